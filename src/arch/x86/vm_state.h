/*
 * The VM-wide state KVM keeps in the kernel, as snapshot/restore needs it: the PIT, the kvmclock
 * and the in-kernel irqchip (both PICs and the IOAPIC). vm_state_get/set talk to KVM; save/load
 * are its state section, every length checked.
 */
#ifndef KVMBOX_X86_VM_STATE_H
#define KVMBOX_X86_VM_STATE_H

#include <linux/kvm.h>

#include "snapshot/state.h"

struct vm_state {
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	struct kvm_irqchip pic_master, pic_slave, ioapic;
};

/* Read it from a paused VM (no vCPU in KVM_RUN). */
int vm_state_get(int vm_fd, struct vm_state *s) __attribute__((warn_unused_result));

/*
 * Put it into a new VM before any vCPU runs, in two steps (vm_snapshot.c says when): the irqchip
 * (both PICs and the IOAPIC), before the devices raise their lines again; then, once the vCPUs'
 * LAPICs are back, the PIT (KVM_SET_PIT2 re-arms channel 0 at once: a tick into a LAPIC not yet
 * restored is lost, and in reinject mode the PIT then waits for an EOI that never comes) and the
 * clock, so that the guest's kvmclock continues from where it stopped rather than jumping by the
 * time the snapshot spent on disk.
 */
int vm_state_set_irqchip(int vm_fd, const struct vm_state *s) __attribute__((warn_unused_result));
int vm_state_set_timers(int vm_fd, const struct vm_state *s) __attribute__((warn_unused_result));

void vm_state_save(const struct vm_state *s, struct state_writer *w);
int vm_state_load(struct state_reader *r, struct vm_state *s) __attribute__((warn_unused_result));

#endif
