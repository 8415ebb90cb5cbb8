/* Userspace emulation of the instructions KVM gives up on (KVM_INTERNAL_ERROR_EMULATION). */
#ifndef KVMBOX_X86_EMU_FALLBACK_H
#define KVMBOX_X86_EMU_FALLBACK_H

#include <stdint.h>
#include <stdio.h>

struct kvm_run;
struct guest_mem;
struct bus;

/*
 * Called on KVM_EXIT_INTERNAL_ERROR with suberror KVM_INTERNAL_ERROR_EMULATION: emulate the
 * instruction at RIP (bytes from the exit, the rest fetched from guest memory), write back what
 * changed and inject any exception it raises. 0: handled, re-enter the guest. Negative errno: it
 * cannot be emulated; the exit, instruction bytes and registers have been logged, and the caller
 * must stop the vCPU (re-entering would fail the same way forever). A memory operand outside RAM
 * is a device access on mmio, a port operand one on pio (NULL: such an instruction cannot be
 * emulated).
 */
int emu_fallback_handle(int vcpu_fd, struct kvm_run *run, const struct guest_mem *gm,
			struct bus *mmio, struct bus *pio) __attribute__((warn_unused_result));

/* Counts of instructions handled here, per mnemonic ("unsupported" for the ones refused). */
void emu_fallback_stats(void (*fn)(void *opaque, const char *mnemonic, uint64_t count),
			void *opaque);

/* One --stats line: "  emulated in kvmbox: int3=1 popcnt=3 unsupported=0". */
void emu_fallback_print_stats(FILE *out);

#endif
