/*
 * The gdb stub: a listening socket (tcp:HOST:PORT or unix:PATH) on the main event loop, one client
 * at a time, the protocol in gdb_server.c, and the VM side of it: all-stop through the vCPU
 * lifecycle (VCPU_PARK_DEBUG), registers through the register file, memory through kvmbox's own
 * page walker, breakpoints as int3 bytes in guest RAM and as DR0-3 through KVM_SET_GUEST_DEBUG.
 * Main thread only, except the debug-event hook that vCPU threads call.
 */
#ifndef KVMBOX_GDB_STUB_H
#define KVMBOX_GDB_STUB_H

#include <stdbool.h>
#include <stddef.h>

struct event_loop;
struct gdb_stub;
struct vm;

/*
 * Listen on address and hook the VM's debug events. With wait, the vCPUs start stopped (call
 * before vm_start) until a client continues them; otherwise they stop when a client connects.
 * Fails with err set: -EINVAL (address malformed), -EADDRINUSE, ...
 */
int gdb_stub_create(struct gdb_stub **out, const char *address, bool wait, struct event_loop *loop,
		    struct vm *vm, char *err, size_t errlen) __attribute__((warn_unused_result));
/* The VM ended with status: a client waiting for a stop hears it. Then everything is freed. */
void gdb_stub_destroy(struct gdb_stub *stub, int status);
/* Software breakpoints are in guest RAM now (int3 bytes a snapshot would save); NULL: false. */
bool gdb_stub_has_sw_breakpoints(struct gdb_stub *stub);

#endif
