# fuzz_syscall_kvm replaces ioctl(2) with a fake KVM (as tests/unit/unit.mk's tests do).
$(O)/fuzz/fuzz_syscall_kvm $(O)/fuzz-replay/fuzz_syscall_kvm: LDFLAGS += -Wl,--wrap=ioctl
