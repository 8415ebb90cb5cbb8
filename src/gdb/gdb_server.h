/*
 * The gdb remote serial protocol's commands for an all-stop x86-64 target: registers, memory,
 * breakpoints and watchpoints, continue/step/vCont, threads (one per vCPU), the target description
 * and monitor commands. It knows neither sockets nor KVM: bytes come in through gdb_server_feed,
 * replies leave through ops->send, and the VM is reached through struct gdb_target_ops, so unit
 * tests and the fuzzer drive it with a fake target. The client is untrusted: every number, length
 * and thread id is checked here, and a bad packet gets an error reply, never more.
 */
#ifndef KVMBOX_GDB_SERVER_H
#define KVMBOX_GDB_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "arch/x86/regs.h"

/* What a vCPU does when the target resumes (one per vCPU). */
enum gdb_action {
	GDB_ACT_HOLD, /* stays stopped */
	GDB_ACT_CONT,
	GDB_ACT_STEP,
};

/* Z/z types. */
enum gdb_bp_type {
	GDB_BP_SW,
	GDB_BP_HW,
	GDB_WP_WRITE,
	GDB_WP_READ,
	GDB_WP_ACCESS,
};

/* Why the target stopped. */
enum gdb_stop_kind {
	GDB_STOP_SIGNAL,  /* plain: a step finished, Ctrl-C, a new connection */
	GDB_STOP_SWBREAK, /* a Z0 breakpoint */
	GDB_STOP_HWBREAK, /* a Z1 breakpoint */
	GDB_STOP_WATCH,	  /* Z2/Z3/Z4 at addr */
	GDB_STOP_RWATCH,
	GDB_STOP_AWATCH,
};

struct gdb_stop {
	unsigned cpu;
	int signal; /* 5 SIGTRAP, 2 SIGINT */
	enum gdb_stop_kind kind;
	uint64_t addr; /* watchpoints: the watched address */
};

#define GDB_SIGINT 2
#define GDB_SIGTRAP 5

/* Everything the server asks of the VM. Called only while every vCPU is stopped, except send. */
struct gdb_target_ops {
	unsigned (*ncpus)(void *opaque);
	int (*get_regs)(void *opaque, unsigned cpu, struct x86_regs *r);
	int (*set_regs)(void *opaque, unsigned cpu, const struct x86_regs *r);
	/*
	 * len bytes at addr: a virtual address through cpu's page tables, or physical when phys.
	 * Returns how many bytes from the start were done (short at the first unreadable page; 0
	 * when none) or -errno.
	 */
	ssize_t (*read_mem)(void *opaque, unsigned cpu, uint64_t addr, void *buf, size_t len,
			    bool phys);
	ssize_t (*write_mem)(void *opaque, unsigned cpu, uint64_t addr, const void *buf, size_t len,
			     bool phys);
	/* Insert or remove a breakpoint/watchpoint (enum gdb_bp_type) of len bytes at addr (a
	 * virtual address of the current vCPU's space). 0, -ENOSPC (no slot), -ENOTSUP, -EINVAL. */
	int (*breakpoint)(void *opaque, unsigned cpu, bool insert, int type, uint64_t addr,
			  uint64_t len);
	/* Run the vCPUs by actions[ncpus]; the target later reports a stop with gdb_server_stop. */
	int (*resume)(void *opaque, const uint8_t *actions);
	/* Ctrl-C: stop every vCPU and report it (signal GDB_SIGINT). */
	void (*interrupt)(void *opaque);
	/* The client leaves: breakpoints removed, debug state cleared, the guest runs on. */
	void (*detach)(void *opaque);
	/* `k`: stop the VM. */
	void (*kill)(void *opaque);
	/* A monitor command's output, NUL-terminated, into out (cap bytes, truncating). 0, or
	 * -errno with a message in out. */
	int (*monitor)(void *opaque, const char *cmd, char *out, size_t cap);
	/* A short description of cpu for `info threads`. */
	void (*describe)(void *opaque, unsigned cpu, char *out, size_t cap);
	/* Bytes for the client. */
	void (*send)(void *opaque, const void *buf, size_t len);
};

struct gdb_server;

int gdb_server_create(struct gdb_server **out, const struct gdb_target_ops *ops, void *opaque)
    __attribute__((warn_unused_result));
void gdb_server_destroy(struct gdb_server *s);
/* A new client, with the target stopped (stop says where): ack mode, thread selection reset. */
void gdb_server_connect(struct gdb_server *s, const struct gdb_stop *stop);
/* Bytes from the client. Returns -EPIPE after a detach or kill (close the connection). */
int gdb_server_feed(struct gdb_server *s, const void *data, size_t len);
/* The target stopped after a resume: the stop reply goes out. Ignored when not running. */
void gdb_server_stop(struct gdb_server *s, const struct gdb_stop *stop);
/* The VM ended with status: a `W` reply if the client waits for a stop. */
void gdb_server_exited(struct gdb_server *s, int status);
/* Whether the client believes the target runs (a resume is outstanding). */
bool gdb_server_running(const struct gdb_server *s);

#endif
