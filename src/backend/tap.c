/* Host tap devices for virtio-net: open with a vnet header, set offloads, classify errors. */
#include "backend/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"

/* TUNSETIFF's errors mean different things than open's; name the likely cause for each. */
static const char *tap_setiff_hint(int err)
{
	switch (err) {
	case EPERM:
		return "creating or attaching a tap needs CAP_NET_ADMIN (run as root)";
	case EBUSY:
		return "the interface is in use by another process";
	case EINVAL:
		return "the name belongs to a non-tap interface";
	default:
		return strerror(err);
	}
}

static bool tap_name_valid(const char *name)
{
	size_t len = strlen(name);

	/* As the kernel's dev_valid_name: refused here, the error can name the problem. */
	if (len == 0 || len >= IFNAMSIZ || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (size_t i = 0; i < len; i++)
		if (name[i] == '/' || name[i] == ':' || name[i] <= ' ' || name[i] == 0x7f)
			return false;
	return true;
}

int tap_open(const char *name, int vnet_hdr_len, char *ifname)
{
	struct ifreq ifr;
	int fd, err;

	if (!name || !tap_name_valid(name)) {
		log_error("tap: bad interface name '%s' (1-%d characters, no '/', ':' or spaces)",
			  name ? name : "", IFNAMSIZ - 1);
		return -EINVAL;
	}
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		if (err == ENOENT || err == ENXIO || err == ENODEV)
			log_error("tap %s: /dev/net/tun is missing (is the tun module loaded?)",
				  name);
		else if (err == EACCES || err == EPERM)
			log_error("tap %s: no permission to open /dev/net/tun", name);
		else
			log_error("tap %s: /dev/net/tun: %s", name, strerror(err));
		return -err;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strlen(name));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		err = errno;
		log_error("tap %s: cannot attach: %s", name, tap_setiff_hint(err));
		goto err_close;
	}
	err = -tap_set_vnet_hdr_len(fd, vnet_hdr_len);
	if (err) {
		log_error("tap %s: cannot set the vnet header size: %s", name, strerror(err));
		goto err_close;
	}
	/* Until the guest says what it accepts, the kernel must hand us plain frames. */
	err = -tap_set_offload(fd, 0);
	if (err) {
		log_error("tap %s: cannot clear offloads: %s", name, strerror(err));
		goto err_close;
	}
	if (ifname) {
		memcpy(ifname, ifr.ifr_name, IFNAMSIZ);
		ifname[IFNAMSIZ - 1] = '\0';
	}
	return fd;

err_close:
	close(fd);
	return -err;
}

int tap_set_vnet_hdr_len(int fd, int len)
{
	if (ioctl(fd, TUNSETVNETHDRSZ, &len) < 0)
		return -errno;
	return 0;
}

int tap_set_offload(int fd, unsigned offloads)
{
	unsigned long flags = 0;

	if (offloads & TAP_OFFLOAD_CSUM) {
		flags |= TUN_F_CSUM;
		/* The kernel refuses segmentation offloads without checksum offload. */
		if (offloads & TAP_OFFLOAD_TSO4)
			flags |= TUN_F_TSO4;
		if (offloads & TAP_OFFLOAD_TSO6)
			flags |= TUN_F_TSO6;
		if ((offloads & TAP_OFFLOAD_ECN) && (flags & (TUN_F_TSO4 | TUN_F_TSO6)))
			flags |= TUN_F_TSO_ECN;
	}
	if (ioctl(fd, TUNSETOFFLOAD, flags) < 0)
		return -errno;
	return 0;
}

bool tap_error_is_gone(int err)
{
	return err == -EBADFD || err == -ENODEV || err == -ENXIO || err == -EIO;
}
