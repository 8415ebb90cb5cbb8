/* VM-wide in-kernel state for snapshots: PIT, kvmclock, PIC and IOAPIC. */
#include "arch/x86/vm_state.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#define VM_STATE_TAG STATE_TAG('K', 'V', 'M', 'S')
#define VM_STATE_VERSION 1

int vm_state_get(int vm_fd, struct vm_state *s)
{
	memset(s, 0, sizeof(*s));
	s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	if (ioctl(vm_fd, KVM_GET_IRQCHIP, &s->pic_master) < 0 ||
	    ioctl(vm_fd, KVM_GET_IRQCHIP, &s->pic_slave) < 0 ||
	    ioctl(vm_fd, KVM_GET_IRQCHIP, &s->ioapic) < 0 ||
	    ioctl(vm_fd, KVM_GET_PIT2, &s->pit) < 0 || ioctl(vm_fd, KVM_GET_CLOCK, &s->clock) < 0)
		return -errno;
	return 0;
}

int vm_state_set_irqchip(int vm_fd, const struct vm_state *s)
{
	if (ioctl(vm_fd, KVM_SET_IRQCHIP, &s->pic_master) < 0 ||
	    ioctl(vm_fd, KVM_SET_IRQCHIP, &s->pic_slave) < 0 ||
	    ioctl(vm_fd, KVM_SET_IRQCHIP, &s->ioapic) < 0)
		return -errno;
	return 0;
}

int vm_state_set_timers(int vm_fd, const struct vm_state *s)
{
	struct kvm_clock_data clock = s->clock;

	/* The flags KVM_GET_CLOCK reports (stable TSC, realtime) are not inputs of KVM_SET_CLOCK
	 * except KVM_CLOCK_REALTIME, which would advance the clock by the wall time since. */
	clock.flags = 0;
	if (ioctl(vm_fd, KVM_SET_PIT2, &s->pit) < 0 || ioctl(vm_fd, KVM_SET_CLOCK, &clock) < 0)
		return -errno;
	return 0;
}

static void vm_state_put(struct state_writer *w, const void *p, uint32_t len)
{
	state_put_u32(w, len);
	state_put_bytes(w, p, len);
}

static void vm_state_get_blob(struct state_reader *r, void *p, uint32_t len, const char *what)
{
	if (state_get_u32(r) != len)
		state_reader_fail(r, what);
	state_get_bytes(r, p, len);
}

void vm_state_save(const struct vm_state *s, struct state_writer *w)
{
	state_section_begin(w, VM_STATE_TAG, VM_STATE_VERSION);
	vm_state_put(w, &s->pit, sizeof(s->pit));
	vm_state_put(w, &s->clock, sizeof(s->clock));
	vm_state_put(w, &s->pic_master, sizeof(s->pic_master));
	vm_state_put(w, &s->pic_slave, sizeof(s->pic_slave));
	vm_state_put(w, &s->ioapic, sizeof(s->ioapic));
	state_section_end_write(w);
}

int vm_state_load(struct state_reader *r, struct vm_state *s)
{
	uint32_t version;

	memset(s, 0, sizeof(*s));
	state_section_begin_read(r, VM_STATE_TAG, VM_STATE_VERSION, &version);
	vm_state_get_blob(r, &s->pit, sizeof(s->pit), "PIT state of another size");
	vm_state_get_blob(r, &s->clock, sizeof(s->clock), "clock state of another size");
	vm_state_get_blob(r, &s->pic_master, sizeof(s->pic_master), "PIC state of another size");
	vm_state_get_blob(r, &s->pic_slave, sizeof(s->pic_slave), "PIC state of another size");
	vm_state_get_blob(r, &s->ioapic, sizeof(s->ioapic), "IOAPIC state of another size");
	/* Each chip must be the one its slot says: SET_IRQCHIP would otherwise load it elsewhere.
	 */
	if (s->pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER ||
	    s->pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE ||
	    s->ioapic.chip_id != KVM_IRQCHIP_IOAPIC)
		state_reader_fail(r, "irqchip state in the wrong slot");
	return state_section_end(r);
}
