# vm_snapshot.c's test replaces ioctl(2) with a fake KVM (tests/unit/test_vm_snapshot.c).
$(O)/tests/test_vm_snapshot: LDFLAGS += -Wl,--wrap=ioctl
$(O)/tests/test_vcpu_park: LDFLAGS += -Wl,--wrap=ioctl
$(O)/tests/test_syscall_kvm: LDFLAGS += -Wl,--wrap=ioctl
