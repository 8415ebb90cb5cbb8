# kvmbox.run=blk: exercise virtio-blk disks (tests/integration/test_virtio_blk.sh).
#   kvmbox.blk=vda:rw,vdb:ro   the disks and what to do with each (each holds an ext4 file system
#                              made on the host, with /hostfile written by the host)
#   kvmbox.n=N                 rw disks get /guestfile = the output of `seq 1 N`
# For each disk DEV it prints DEV.size, .ro, .serial, .transport, .hostfile (SHA-256 of /hostfile),
# then for rw: .written, .reread (SHA-256 after a umount/mount), .umount; for ro: .mount_msg,
# .mount_mode, .write, .remount_rw, .rawwrite (refused|allowed), .umount.
. /etc/kvmbox/common.inc

n=$(karg kvmbox.n)
n=${n:-400000}
for spec in $(karg kvmbox.blk | tr ',' ' '); do
	d=${spec%%:*}
	mode=${spec#*:}
	m=/mnt/$d
	mkdir -p "$m"
	if [ ! -b "/dev/$d" ]; then
		r "$d.present" no
		continue
	fi
	r "$d.present" yes
	r "$d.size" "$(cat "/sys/block/$d/size")"
	r "$d.ro" "$(cat "/sys/block/$d/ro")"
	r "$d.serial" "$(cat "/sys/block/$d/serial" 2>/dev/null)"
	# The driver bound to virtioN's parent: virtio-pci or virtio-mmio.
	vdev=$(readlink -f "/sys/block/$d/device")
	r "$d.transport" "$(basename "$(readlink "$vdev/../driver")")"
	r "$d.path" "$vdev"

	if [ "$mode" = ro ]; then
		# The kernel refuses the rw open of a read-only disk ("Can't open blockdev"); busybox
		# mount then retries read-only.
		mount -t ext4 -o rw "/dev/$d" "$m" >/tmp/mount.out 2>&1
		r "$d.mount_rc" $?
		cat /tmp/mount.out
		r "$d.mount_msg" "$(tr ' ' '_' </tmp/mount.out | head -n1)"
		r "$d.mount_mode" "$(awk -v m="$m" '$2 == m { split($4, o, ","); print o[1] }' /proc/mounts)"
		r "$d.hostfile" "$(sha "$m/hostfile")"
		# (a subshell, so the shell's own "can't create" message lands in write.err)
		if (echo written-on-a-read-only-disk >"$m/newfile") 2>/tmp/write.err; then
			r "$d.write" allowed
		else
			r "$d.write" refused
			r "$d.write_err" "$(tr ' ' '_' </tmp/write.err | head -n1)"
		fi
		if mount -o remount,rw "$m" 2>/dev/null; then r "$d.remount_rw" allowed; else r "$d.remount_rw" refused; fi
		# A raw write to a free area near the end of the disk (the host checks the image is unchanged).
		seek=$(($(cat "/sys/block/$d/size") / 8 - 16))
		if dd if=/dev/zero of="/dev/$d" bs=4096 count=1 seek="$seek" conv=notrunc 2>/dev/null; then
			r "$d.rawwrite" allowed
		else
			r "$d.rawwrite" refused
		fi
		umount "$m"
		r "$d.umount" $?
	else
		mount -t ext4 "/dev/$d" "$m"
		r "$d.mount_rc" $?
		r "$d.hostfile" "$(sha "$m/hostfile")"
		stamp "$d.write"
		seq 1 "$n" >"$m/guestfile"
		stamp "$d.sha"
		r "$d.written" "$(sha "$m/guestfile")"
		stamp "$d.sync"
		sync
		stamp "$d.umount"
		umount "$m"
		stamp "$d.remount"
		# Mounted again, the file comes back from the disk, not from the page cache.
		mount -t ext4 "/dev/$d" "$m"
		r "$d.reread" "$(sha "$m/guestfile")"
		umount "$m"
		r "$d.umount" $?
		stamp "$d.end"
	fi
done
sync
r blk.done yes
