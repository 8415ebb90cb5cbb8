#!/usr/bin/env bash
# virtio-blk with the Linux test kernel: ext4 images made on the host (mkfs.ext4), a file written by the
# guest and checked on the host with debugfs (no mount on the host), a file written by the host read
# back in the guest, a read-only disk, two disks at once, virtio-mmio, and bad --disk input.
# One boot per case: two disks on virtio-pci (rw with an id + read-only); one virtio-mmio disk.
# BLK_CASES picks the cases (default "pci mmio"; tests/run.sh runs only "pci" under the sanitizers).
source "$(dirname "$0")/lib.sh"
need_kvm virtio-blk
for tool in mkfs.ext4 debugfs e2fsck; do
	command -v "$tool" >/dev/null || { skip virtio-blk "$tool not installed (e2fsprogs)"; exit 0; }
done
need_option virtio-blk --disk path=/nonexistent
prepare_linux_overlay
BOOT_TIMEOUT=${BOOT_TIMEOUT:-360}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
N=60000 # the guest writes `seq 1 N` (350 kB: dozens of multi-page requests) on each read-write disk
WANT=$(seq 1 "$N" | sha256sum | cut -d' ' -f1)
head -c $((1024 * 1024 + 123)) /dev/urandom >"$T/hostfile"
HOSTSHA=$(sha_of "$T/hostfile")

# mkimg FILE SIZE: an ext4 image with /hostfile written into it by debugfs.
mkimg() {
	if ! { truncate -s "$2" "$1" && mkfs.ext4 -q -F "$1" &&
		debugfs -w -R "write $T/hostfile hostfile" "$1" >/dev/null 2>&1; }; then
		fail virtio-blk-setup "cannot make the ext4 image $1"
		exit 1
	fi
}

# boot NAME BLKSPEC kvmbox-args...: boot with kvmbox.run=blk kvmbox.blk=BLKSPEC.
boot() {
	local name=$1 spec=$2 t0=$SECONDS
	shift 2
	run_guest "$name" "$BOOT_TIMEOUT" --kernel "$GUEST_KERNEL" --initrd "$INITRD" --memory 512M \
		--cmdline "console=ttyS0 panic=-1 kvmbox.run=blk kvmbox.blk=$spec kvmbox.n=$N" "$@"
	echo "# $name: boot+poweroff $((SECONDS - t0)) s"
	check_guest_procs "$name-processes"
}

# booted NAME: kvmbox exited 0 after the guest's poweroff and the guest script ran to its end.
booted() {
	check_poweroff "$1" || return 1
	if [ "$(gval blk.done)" != yes ]; then
		fail "$1" "the guest's blk.sh did not finish (no '@T blk.done=yes')"
		excerpt "$OUT" 25
		return 1
	fi
	pass "$1"
}

# check_rw NAME DEV IMG: the guest read /hostfile, wrote /guestfile, read it back after a remount,
# and the image holds it (debugfs) in a consistent file system (e2fsck -fn).
check_rw() {
	local name=$1 d=$2 img=$3 got
	if [ "$(gval "$d.present")" != yes ]; then
		fail "$name" "the guest has no /dev/$d"
		excerpt "$OUT" 25
		return
	fi
	expect_eq "$name-size" "/sys/block/$d/size (512-byte sectors)" "$(gval "$d.size")" \
		$(($(stat -c %s "$img") / 512))
	expect_eq "$name-guest-reads-host-file" "SHA-256 of /hostfile in the guest" "$(gval "$d.hostfile")" "$HOSTSHA"
	expect_eq "$name-guest-write" "SHA-256 of /guestfile as written" "$(gval "$d.written")" "$WANT"
	expect_eq "$name-guest-reread" "SHA-256 of /guestfile after umount+mount" "$(gval "$d.reread")" "$WANT"
	expect_eq "$name-umount" "umount status" "$(gval "$d.umount")" 0
	got=$(debugfs -R 'cat /guestfile' "$img" 2>/dev/null | sha256sum | cut -d' ' -f1)
	expect_eq "$name-host-sees-file" "SHA-256 of /guestfile read by debugfs on the host" "$got" "$WANT"
	if e2fsck -fn "$img" >"$T/fsck.log" 2>&1; then
		pass "$name-fsck-clean"
	else
		fail "$name-fsck-clean" "e2fsck -fn finds problems after the guest's umount"
		excerpt "$T/fsck.log"
	fi
}

case " ${BLK_CASES:-pci mmio} " in *" pci "*)
# 1. Two disks on virtio-pci (the default transport): vda read-write with an id, vdb read-only with
#    an id (and another size); the read-only image must come out bit for bit unchanged.
mkimg "$T/rw.img" 64M
mkimg "$T/ro.img" 32M
ROSHA=$(sha_of "$T/ro.img")
boot blk-two vda:rw,vdb:ro --disk "path=$T/rw.img,id=kvmbox-rw" --disk "path=$T/ro.img,ro=on,id=kvmbox-ro"
if booted virtio-blk-two-disks-boot; then
	expect_eq virtio-blk-pci-transport "driver of vda's virtio device" "$(gval vda.transport)" virtio-pci
	if [ "$(gval vda.present)" = yes ] && [ "$(gval vdb.present)" = yes ]; then
		pass virtio-blk-two-disks-present
	else
		fail virtio-blk-two-disks-present "vda present: '$(gval vda.present)', vdb present: '$(gval vdb.present)'"
	fi
	expect_eq virtio-blk-id-vda "vda's serial (get-id; disks in command-line order)" "$(gval vda.serial)" kvmbox-rw
	expect_eq virtio-blk-id-vdb "vdb's serial (get-id; disks in command-line order)" "$(gval vdb.serial)" kvmbox-ro
	expect_eq virtio-blk-ro-flag "/sys/block/vdb/ro (VIRTIO_BLK_F_RO)" "$(gval vdb.ro)" 1
	expect_eq virtio-blk-rw-flag "/sys/block/vda/ro" "$(gval vda.ro)" 0
	check_rw virtio-blk-two-vda vda "$T/rw.img"
	expect_eq virtio-blk-ro-size "/sys/block/vdb/size" "$(gval vdb.size)" $((32 * 2048))
	expect_eq virtio-blk-ro-reads "SHA-256 of /hostfile on the read-only disk" "$(gval vdb.hostfile)" "$HOSTSHA"
	# The rw mount was refused (the kernel says so; busybox mount then mounts read-only).
	if gsays "vdb: Can't open blockdev|vdb is write-protected" && [ "$(gval vdb.mount_mode)" = ro ]; then
		pass virtio-blk-ro-mount-rw-refused
	else
		fail virtio-blk-ro-mount-rw-refused "mount said '$(gval vdb.mount_msg)', mounted '$(gval vdb.mount_mode)' (expected the kernel's \"Can't open blockdev\" and ro)"
	fi
	if [ "$(gval vdb.write)" = refused ] && [[ $(gval vdb.write_err) == *Read-only_file_system* ]] &&
		[ "$(gval vdb.remount_rw)" = refused ] && [ "$(gval vdb.rawwrite)" = refused ]; then
		pass virtio-blk-ro-writes-refused
	else
		fail virtio-blk-ro-writes-refused "file write $(gval vdb.write) ($(gval vdb.write_err)), remount rw $(gval vdb.remount_rw), raw write $(gval vdb.rawwrite)"
	fi
	expect_eq virtio-blk-ro-image-unchanged "SHA-256 of the read-only image after the boot" "$(sha_of "$T/ro.img")" "$ROSHA"
fi

;;
esac

case " ${BLK_CASES:-pci mmio} " in *" mmio "*)
# 2. One disk on virtio-mmio (described to the guest by ACPI).
mkimg "$T/mmio.img" 64M
boot blk-mmio vda:rw --disk "path=$T/mmio.img,transport=mmio"
if booted virtio-blk-mmio-boot; then
	expect_eq virtio-blk-mmio-transport "driver of vda's virtio device" "$(gval vda.transport)" virtio-mmio
	check_rw virtio-blk-mmio vda "$T/mmio.img"
fi
;;
esac

# 3. Bad input: status 2, one message naming the problem, nothing started (no guest output).
K=(--kernel "$GUEST_KERNEL" --initrd "$INITRD")
truncate -s 1M "$T/bad.img"
expect_bad virtio-blk-bad-missing-image "/nonexistent/kvmbox-disk.img" "${K[@]}" --disk path=/nonexistent/kvmbox-disk.img
expect_bad virtio-blk-bad-directory "$T" "${K[@]}" --disk "path=$T"
expect_bad virtio-blk-bad-transport "usb" "${K[@]}" --disk "path=$T/bad.img,transport=usb"
expect_bad virtio-blk-bad-ro-value "maybe" "${K[@]}" --disk "path=$T/bad.img,ro=maybe"
expect_bad virtio-blk-bad-no-path "path" "${K[@]}" --disk ro=on
