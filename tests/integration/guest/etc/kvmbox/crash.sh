# kvmbox.run=crash: mount the ext4 disk /dev/vda on /mnt and write files T_1, T_2, ... (T from
# kvmbox.trial; 64 KiB of "crash T_N" lines each), each followed by a syncfs (busybox `sync -f`: the
# journal commit and the device's FLUSH), then "@T crash.flushed=N": from that line on, file N is
# durable. Runs until the host kills kvmbox (test_crash.sh).
# kvmbox.crash=fill instead writes one file until the disk fails (a host ENOSPC under the image),
# reports what dd said, and powers off.
# kvmbox.crash=vanish writes and syncs files as above until one fails (the host took the storage
# away under the image), reports the error, and powers off.
. /etc/kvmbox/common.inc
t=$(karg kvmbox.trial)
mkdir -p /mnt
mount -t ext4 /dev/vda /mnt || { r crash.mount failed; exit 1; }
r crash.mounted 1
if [ "$(karg kvmbox.crash)" = fill ]; then
	dd if=/dev/zero of=/mnt/fill bs=1M count=8 conv=fsync 2>/tmp/dd.err
	r crash.fill_status $?
	r crash.fill_error "$(grep -o -m1 'I/O error\|No space left on device\|Read-only file system' /tmp/dd.err)"
	sync
	r crash.fill_done 1
	exit 0
fi
if [ "$(karg kvmbox.crash)" = vanish ]; then
	i=1
	while [ "$i" -le 2000 ]; do
		if ! { yes "vanish $i" | head -c 65536 >"/mnt/v_$i" && sync -f "/mnt/v_$i"; } 2>/tmp/v.err; then
			r crash.vanish_error "$(grep -o -m1 'I/O error\|No space left on device\|Read-only file system' /tmp/v.err)"
			break
		fi
		r crash.flushed "$i"
		i=$((i + 1))
	done
	r crash.vanish_done "$i"
	exit 0
fi
i=1
while :; do
	yes "crash ${t}_$i" | head -c 65536 >"/mnt/${t}_$i"
	sync -f "/mnt/${t}_$i"
	r crash.flushed "$i"
	i=$((i + 1))
done
