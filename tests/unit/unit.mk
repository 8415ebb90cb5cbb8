# Tests that replace ioctl(2) with a fake KVM (each says what it fakes).
$(O)/tests/test_vm_snapshot: LDFLAGS += -Wl,--wrap=ioctl
$(O)/tests/test_vcpu_park: LDFLAGS += -Wl,--wrap=ioctl
$(O)/tests/test_syscall_kvm: LDFLAGS += -Wl,--wrap=ioctl
$(O)/tests/test_cpu_regs: LDFLAGS += -Wl,--wrap=ioctl
$(O)/tests/test_emu_fallback: LDFLAGS += -Wl,--wrap=ioctl
