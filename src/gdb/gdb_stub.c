/* The gdb stub: socket, all-stop over the vCPU lifecycle, and the VM as a gdb target. */
#include "gdb/gdb_stub.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "arch/x86/cpu.h"
#include "arch/x86/emu/mmu.h"
#include "event_loop.h"
#include "gdb/gdb_server.h"
#include "log.h"
#include "stats.h"
#include "vcpu.h"
#include "vm.h"

#define GDB_SW_BP_MAX 64
#define GDB_SEND_TIMEOUT_MS 2000 /* a client that stops reading is dropped */
#define X86_DR6_BS (1ull << 14)

struct gdb_sw_bp {
	bool used;
	uint64_t addr; /* virtual address gdb gave */
	uint64_t gpa;
	uint8_t orig; /* the guest's byte under the int3 */
};

struct gdb_hw_bp {
	bool used;
	int type; /* enum gdb_bp_type */
	uint64_t addr, len;
	/* A write watchpoint by single-stepping, where the backend's emulated guest code never
	 * raises data breakpoints (kvm_pvm): the watched bytes at gpa, compared after each step. */
	bool soft;
	uint64_t gpa;
	uint8_t old[8];
};

struct gdb_stub {
	struct vm *vm;
	struct event_loop *loop;
	struct gdb_server *srv;
	int listen_fd, client_fd, event_fd;
	char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool stopped;	 /* every vCPU holds VCPU_PARK_DEBUG */
	bool soft_watch; /* data breakpoints do not fire on this backend: step and compare */
	uint8_t *actions;

	/* Shared with the vCPU threads' debug hook. */
	pthread_mutex_t lock;
	struct gdb_sw_bp sw[GDB_SW_BP_MAX];
	unsigned nsw;
	struct gdb_hw_bp hw[4];
	struct gdb_stop *pending; /* per vCPU */
	bool *has_pending;
	bool *step_over;      /* per vCPU: stepping off a hardware breakpoint before continuing */
	struct gdb_stop last; /* the stop gdb was told about last */
	bool released;	      /* detached: nothing held, nothing armed */
};

static unsigned gdb_stub_ncpus(void *opaque)
{
	struct gdb_stub *g = opaque;

	return __atomic_load_n(&g->vm->started, __ATOMIC_SEQ_CST);
}

static struct vcpu *gdb_stub_vcpu(struct gdb_stub *g, unsigned cpu)
{
	return cpu < gdb_stub_ncpus(g) ? &g->vm->vcpus[cpu] : NULL;
}

/* ---- the vCPU threads' side ---- */

/* Linear address of the instruction the vCPU is at. */
static int gdb_stub_linear_rip(int fd, uint64_t *la)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(fd, KVM_GET_REGS, &r) < 0 || ioctl(fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	*la = (s.efer & EMU_EFER_LMA) && s.cs.l ? r.rip : (uint32_t)(s.cs.base + r.rip);
	return 0;
}

static int gdb_stub_find_sw(struct gdb_stub *g, uint64_t addr)
{
	for (int i = 0; i < GDB_SW_BP_MAX; i++)
		if (g->sw[i].used && g->sw[i].addr == addr)
			return i;
	return -1;
}

/* One of gdb's int3s is at virtual address la and still in guest RAM (the guest may have
 * rewritten the byte since). Called with the lock held. */
static bool gdb_stub_sw_armed(struct gdb_stub *g, uint64_t la)
{
	int i = gdb_stub_find_sw(g, la);
	const uint8_t *host = i >= 0 ? guest_mem_ptr(&g->vm->mem, g->sw[i].gpa, 1) : NULL;

	return host && *host == 0xcc;
}

static void gdb_stub_post(struct gdb_stub *g, struct vcpu *vcpu, const struct gdb_stop *st)
{
	uint64_t one = 1;

	g->pending[vcpu->index] = *st;
	g->has_pending[vcpu->index] = true;
	vcpu_park_self(vcpu, VCPU_PARK_DEBUG);
	if (write(g->event_fd, &one, sizeof(one)) < 0)
		log_debug("gdb: event write failed");
}

static struct x86_guest_debug gdb_stub_debug_for(struct gdb_stub *g, int action, bool step_over);

/* Whether a stepped write watchpoint's bytes changed (then st says which; the new value is the
 * one the next change is measured against). Called with the lock held. */
static bool gdb_stub_soft_watch_hit(struct gdb_stub *g, struct gdb_stop *st)
{
	for (unsigned i = 0; i < 4; i++) {
		struct gdb_hw_bp *h = &g->hw[i];
		const uint8_t *now;

		if (!h->used || !h->soft)
			continue;
		now = guest_mem_ptr(&g->vm->mem, h->gpa, h->len);
		if (!now || !memcmp(now, h->old, h->len))
			continue;
		memcpy(h->old, now, h->len);
		st->kind = GDB_STOP_WATCH;
		st->addr = h->addr;
		return true;
	}
	return false;
}

/* What a KVM_EXIT_DEBUG (or an int3 KVM could not emulate) means to the debugger. */
static bool gdb_stub_debug_event(void *opaque, struct vcpu *vcpu, bool int3)
{
	struct gdb_stub *g = opaque;
	const struct kvm_debug_exit_arch *a = &vcpu->run->debug.arch;
	struct gdb_stop st = { .cpu = vcpu->index, .signal = GDB_SIGTRAP };
	bool ours = false;
	uint64_t la;

	pthread_mutex_lock(&g->lock);
	if (int3 || a->exception == 3) {
		/* A software breakpoint: ours only if one of gdb's int3 bytes is at RIP. */
		if (g->nsw && !gdb_stub_linear_rip(vcpu->fd, &la) && gdb_stub_sw_armed(g, la)) {
			st.kind = GDB_STOP_SWBREAK;
			ours = true;
		}
	} else if (a->exception == 1) {
		for (unsigned i = 0; i < 4 && !ours; i++) {
			if (!(a->dr6 & (1u << i)) || !g->hw[i].used)
				continue;
			ours = true;
			st.addr = g->hw[i].addr;
			st.kind = g->hw[i].type == GDB_BP_HW	  ? GDB_STOP_HWBREAK
				  : g->hw[i].type == GDB_WP_WRITE ? GDB_STOP_WATCH
								  : GDB_STOP_AWATCH;
		}
		if (!ours && (a->dr6 & X86_DR6_BS)) {
			/* A single step finished: gdb's, one of the steps that watch memory, or the
			 * step off a hardware breakpoint before a continue. */
			ours = gdb_stub_soft_watch_hit(g, &st) ||
			       g->actions[vcpu->index] == GDB_ACT_STEP;
			if (!ours && g->step_over[vcpu->index]) {
				struct x86_guest_debug d =
				    gdb_stub_debug_for(g, GDB_ACT_CONT, false);

				g->step_over[vcpu->index] = false;
				if (cpu_set_guest_debug(vcpu->fd, &d))
					log_warn("gdb: re-arming vCPU %u failed", vcpu->index);
			}
			if (!ours) {
				pthread_mutex_unlock(&g->lock);
				return true; /* keep running */
			}
		}
	}
	if (ours)
		gdb_stub_post(g, vcpu, &st);
	pthread_mutex_unlock(&g->lock);
	if (!ours && !int3 && a->exception == 3) {
		/* The guest's own int3, intercepted because gdb has software breakpoints. */
		if (cpu_reinject_bp(vcpu->fd))
			log_warn("gdb: cannot give vCPU %u its own int3 back", vcpu->index);
		return true;
	}
	return ours;
}

/* ---- all-stop ---- */

/* Park every vCPU for the debugger. */
static int gdb_stub_stop_all(struct gdb_stub *g)
{
	int ret;

	if (g->stopped)
		return 0;
	ret = vm_park_vcpus(g->vm, VCPU_PARK_DEBUG);
	if (!ret)
		g->stopped = true;
	return ret;
}

/*
 * A vCPU's debug state for action (enum gdb_action; -1: none, the debugger's hold released).
 * step_over: the vCPU sits on one of gdb's hardware execute breakpoints, which would fire again at
 * once (this host ignores RFLAGS.RF): run that one instruction stepped, breakpoints off, first.
 * Called with the lock held.
 */
static struct x86_guest_debug gdb_stub_debug_for(struct gdb_stub *g, int action, bool step_over)
{
	static const uint64_t rw[] = { [GDB_BP_HW] = 0, [GDB_WP_WRITE] = 1, [GDB_WP_ACCESS] = 3 };
	struct x86_guest_debug d = { .sw_bp = g->nsw > 0 };
	bool stepping_watch = false;

	for (unsigned i = 0; i < 4 && !step_over; i++) {
		uint64_t len = g->hw[i].len == 8 ? 2 : g->hw[i].len == 4 ? 3 : g->hw[i].len - 1;

		if (!g->hw[i].used)
			continue;
		if (g->hw[i].soft) {
			stepping_watch = true;
			continue;
		}
		d.dr[i] = g->hw[i].addr;
		if (g->hw[i].type == GDB_BP_HW)
			len = 0;
		d.dr7 |=
		    (2ull << (2 * i)) | (rw[g->hw[i].type] << (16 + 4 * i)) | (len << (18 + 4 * i));
	}
	/* gdb's step runs one instruction, interrupts held off; a watching step lets them in (the
	 * guest must keep its timers). */
	d.single_step =
	    action == GDB_ACT_STEP || (action == GDB_ACT_CONT && (stepping_watch || step_over));
	d.block_irq = action == GDB_ACT_STEP || step_over;
	d.enable = d.sw_bp || (d.dr7 & 0xff) || d.single_step;
	return d;
}

/* Whether the vCPU is at one of gdb's hardware execute breakpoints. Called with the lock held. */
static bool gdb_stub_at_hw_bp(struct gdb_stub *g, int fd)
{
	uint64_t la;

	if (gdb_stub_linear_rip(fd, &la))
		return false;
	for (unsigned i = 0; i < 4; i++)
		if (g->hw[i].used && g->hw[i].type == GDB_BP_HW && g->hw[i].addr == la)
			return true;
	return false;
}

/* Program every vCPU's debug state for the next run (actions NULL: clear it). Lock held. */
static int gdb_stub_arm(struct gdb_stub *g, const uint8_t *actions)
{
	unsigned n = gdb_stub_ncpus(g);
	int ret = 0;

	for (unsigned i = 0; i < n && !ret; i++) {
		int act = actions ? actions[i] : -1;
		struct x86_guest_debug d;

		/* Only the vCPU gdb saw stop at the breakpoint: another one sitting on it has an
		 * unreported hit, which must fire again. */
		g->step_over[i] = act == GDB_ACT_CONT && g->last.kind == GDB_STOP_HWBREAK &&
				  g->last.cpu == i && gdb_stub_at_hw_bp(g, g->vm->vcpus[i].fd);
		d = gdb_stub_debug_for(g, act, g->step_over[i]);
		ret = cpu_set_guest_debug(g->vm->vcpus[i].fd, &d);
	}
	return ret;
}

static int gdb_stub_resume(void *opaque, const uint8_t *actions)
{
	struct gdb_stub *g = opaque;
	unsigned n = gdb_stub_ncpus(g);
	int ret;

	pthread_mutex_lock(&g->lock);
	ret = gdb_stub_arm(g, actions);
	/* Events other vCPUs had meanwhile are dropped: an int3 or execute breakpoint leaves RIP
	 * at the instruction, so it fires again if gdb still wants it. */
	memset(g->has_pending, 0, n * sizeof(*g->has_pending));
	if (!ret)
		memcpy(g->actions, actions, n);
	pthread_mutex_unlock(&g->lock);
	if (ret)
		return ret;
	g->stopped = false;
	for (unsigned i = 0; i < n; i++)
		if (actions[i] != GDB_ACT_HOLD)
			vcpu_unpark(&g->vm->vcpus[i], VCPU_PARK_DEBUG);
	return 0;
}

/* A vCPU reported a debug event: stop the others and tell gdb. */
static void gdb_stub_event(void *opaque, int fd, uint32_t events)
{
	struct gdb_stub *g = opaque;
	unsigned n = gdb_stub_ncpus(g);
	struct gdb_stop st;
	uint64_t v;
	int pick = -1;

	(void)events;
	if (read(fd, &v, sizeof(v)) < 0)
		return;
	if (g->client_fd < 0 || !gdb_server_running(g->srv))
		return; /* a stale event: nobody is waiting (detach unparked everything) */
	if (gdb_stub_stop_all(g))
		return; /* the VM is stopping */
	pthread_mutex_lock(&g->lock);
	/* The stepping vCPU's report first, so a `step` always ends where gdb expects. */
	for (unsigned i = 0; i < n; i++)
		if (g->has_pending[i] && (pick < 0 || g->actions[i] == GDB_ACT_STEP))
			pick = (int)i;
	if (pick >= 0)
		st = g->pending[pick];
	memset(g->has_pending, 0, n * sizeof(*g->has_pending));
	pthread_mutex_unlock(&g->lock);
	if (pick < 0) {
		/* A stale wakeup (its event went with a resume that came since): run on. */
		if (gdb_stub_resume(g, g->actions))
			log_warn("gdb: resuming after a stale event failed");
		return;
	}
	g->last = st;
	gdb_server_stop(g->srv, &st);
}

static void gdb_stub_interrupt(void *opaque)
{
	struct gdb_stub *g = opaque;
	struct gdb_stop st = { .cpu = 0, .signal = GDB_SIGINT };

	if (gdb_stub_stop_all(g))
		return;
	for (unsigned i = 0; i < gdb_stub_ncpus(g); i++)
		if (g->actions[i] == GDB_ACT_STEP) /* a Ctrl-C during a step names that vCPU */
			st.cpu = i;
	g->last = st;
	gdb_server_stop(g->srv, &st);
}

/* ---- registers and memory ---- */

static int gdb_stub_get_regs(void *opaque, unsigned cpu, struct x86_regs *r)
{
	struct vcpu *v = gdb_stub_vcpu(opaque, cpu);

	return v ? cpu_read_regs(v->fd, r) : -EINVAL;
}

static int gdb_stub_set_regs(void *opaque, unsigned cpu, const struct x86_regs *r)
{
	struct vcpu *v = gdb_stub_vcpu(opaque, cpu);

	return v ? cpu_write_regs(v->fd, r) : -EINVAL;
}

static void *gdb_stub_pt(void *opaque, uint64_t gpa, unsigned len)
{
	return guest_mem_ptr(opaque, gpa, len);
}

/* Guest physical address of virtual address va on cpu (a debugger's look: no A/D bits). */
static int gdb_stub_translate(struct gdb_stub *g, const struct x86_regs *r, uint64_t va,
			      uint64_t *gpa)
{
	struct emu_mmu mmu = {
		.cr0 = r->cr0,
		.cr3 = r->cr3,
		.cr4 = r->cr4,
		.efer = r->efer,
		.rflags = r->rflags,
		.pt = gdb_stub_pt,
		.opaque = &g->vm->mem,
	};
	struct emu_pf pf;
	int ret = emu_mmu_translate(&mmu, va, EMU_ACC_PEEK, gpa, &pf);

	return ret == 0 ? 0 : -EFAULT;
}

/*
 * Copy between buf and guest memory at addr, page by page; returns the bytes done before the
 * first page that is not RAM (or not mapped). Reads show the guest's bytes under gdb's int3s;
 * writes over one update the saved byte and keep the int3.
 */
static ssize_t gdb_stub_access(struct gdb_stub *g, unsigned cpu, uint64_t addr, void *buf,
			       size_t len, bool phys, bool write)
{
	struct x86_regs r;
	size_t done = 0;
	int ret = 0;

	if (!gdb_stub_vcpu(g, cpu))
		return -EINVAL;
	if (!phys && (ret = cpu_read_regs(g->vm->vcpus[cpu].fd, &r)))
		return ret;
	pthread_mutex_lock(&g->lock);
	while (done < len) {
		uint64_t va = addr + done, gpa;
		size_t chunk = 4096 - (va & 4095);
		uint8_t *host;

		if (va < addr)
			break; /* past the top of the address space */
		if (chunk > len - done)
			chunk = len - done;
		if (phys)
			gpa = va;
		else if (gdb_stub_translate(g, &r, va, &gpa))
			break;
		host = guest_mem_ptr(&g->vm->mem, gpa, chunk);
		if (!host)
			break;
		for (size_t i = 0; i < chunk; i++) {
			uint8_t *b = (uint8_t *)buf + done + i;
			int bp = -1;

			for (int k = 0; k < GDB_SW_BP_MAX && g->nsw; k++) {
				if (!g->sw[k].used || g->sw[k].gpa != gpa + i)
					continue;
				bp = k;
				if (write) /* every alias keeps the same saved byte */
					g->sw[k].orig = *b;
			}
			if (!write)
				*b = bp >= 0 ? g->sw[bp].orig : host[i];
			else if (bp < 0)
				host[i] = *b;
		}
		if (write)
			guest_mem_mark_dirty(&g->vm->mem, gpa, chunk);
		done += chunk;
	}
	pthread_mutex_unlock(&g->lock);
	return (ssize_t)done;
}

static ssize_t gdb_stub_read_mem(void *opaque, unsigned cpu, uint64_t addr, void *buf, size_t len,
				 bool phys)
{
	return gdb_stub_access(opaque, cpu, addr, buf, len, phys, false);
}

static ssize_t gdb_stub_write_mem(void *opaque, unsigned cpu, uint64_t addr, const void *buf,
				  size_t len, bool phys)
{
	return gdb_stub_access(opaque, cpu, addr, (void *)buf, len, phys, true);
}

/* ---- breakpoints ---- */

/* Another of gdb's int3s on the same guest byte (two virtual addresses, one page), or -1. */
static int gdb_stub_sw_alias(struct gdb_stub *g, int self, uint64_t gpa)
{
	for (int k = 0; k < GDB_SW_BP_MAX; k++)
		if (k != self && g->sw[k].used && g->sw[k].gpa == gpa)
			return k;
	return -1;
}

static int gdb_stub_sw_bp(struct gdb_stub *g, unsigned cpu, bool insert, uint64_t addr)
{
	struct x86_regs r;
	uint64_t gpa;
	uint8_t *host;
	int i, ret = cpu_read_regs(g->vm->vcpus[cpu].fd, &r);

	if (ret)
		return ret;
	pthread_mutex_lock(&g->lock);
	i = gdb_stub_find_sw(g, addr);
	if (!insert) {
		if (i >= 0) {
			host = guest_mem_ptr(&g->vm->mem, g->sw[i].gpa, 1);
			if (host && *host == 0xcc && gdb_stub_sw_alias(g, i, g->sw[i].gpa) < 0) {
				*host = g->sw[i].orig;
				guest_mem_mark_dirty(&g->vm->mem, g->sw[i].gpa, 1);
			}
			g->sw[i].used = false;
			g->nsw--;
		}
		pthread_mutex_unlock(&g->lock);
		return 0;
	}
	if (i >= 0) {
		pthread_mutex_unlock(&g->lock);
		return 0;
	}
	ret = -ENOSPC;
	for (i = 0; i < GDB_SW_BP_MAX && ret == -ENOSPC; i++) {
		if (g->sw[i].used)
			continue;
		ret = -EFAULT;
		if (gdb_stub_translate(g, &r, addr, &gpa) ||
		    !(host = guest_mem_ptr(&g->vm->mem, gpa, 1)))
			break;
		{
			int alias = gdb_stub_sw_alias(g, i, gpa);

			/* Under an alias the byte is gdb's int3 already: share its saved byte. */
			g->sw[i] =
			    (struct gdb_sw_bp){ .used = true,
						.addr = addr,
						.gpa = gpa,
						.orig = alias >= 0 ? g->sw[alias].orig : *host };
		}
		*host = 0xcc;
		guest_mem_mark_dirty(&g->vm->mem, gpa, 1);
		g->nsw++;
		ret = 0;
	}
	pthread_mutex_unlock(&g->lock);
	return ret;
}

static int gdb_stub_hw_bp(struct gdb_stub *g, unsigned cpu, bool insert, int type, uint64_t addr,
			  uint64_t len)
{
	bool soft = g->soft_watch && type != GDB_BP_HW;
	int ret = insert ? -ENOSPC : 0;
	uint64_t gpa = 0;
	struct x86_regs r;

	if (type == GDB_WP_READ)
		return -ENOTSUP; /* x86 watches reads only together with writes (use awatch) */
	if (soft && type == GDB_WP_ACCESS)
		return -ENOTSUP; /* comparing values after each step sees writes only */
	if (type != GDB_BP_HW &&
	    ((len != 1 && len != 2 && len != 4 && len != 8) || (addr & (len - 1))))
		return -EINVAL;
	if (soft && insert) {
		ret = cpu_read_regs(g->vm->vcpus[cpu].fd, &r);
		if (ret)
			return ret;
		if (gdb_stub_translate(g, &r, addr, &gpa) || !guest_mem_ptr(&g->vm->mem, gpa, len))
			return -EFAULT; /* aligned and at most 8 bytes: within one page */
		ret = -ENOSPC;
	}
	pthread_mutex_lock(&g->lock);
	for (unsigned i = 0; i < 4; i++) {
		struct gdb_hw_bp *h = &g->hw[i];

		if (!insert && h->used && h->type == type && h->addr == addr &&
		    (type == GDB_BP_HW || h->len == len)) {
			h->used = false;
			break;
		}
		if (insert && !h->used) {
			*h = (struct gdb_hw_bp){ .used = true,
						 .type = type,
						 .addr = addr,
						 .len = type == GDB_BP_HW ? 1 : len,
						 .soft = soft,
						 .gpa = gpa };
			if (soft)
				memcpy(h->old, guest_mem_ptr(&g->vm->mem, gpa, len), len);
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&g->lock);
	return ret;
}

static int gdb_stub_breakpoint(void *opaque, unsigned cpu, bool insert, int type, uint64_t addr,
			       uint64_t len)
{
	struct gdb_stub *g = opaque;

	if (!gdb_stub_vcpu(g, cpu))
		return -EINVAL;
	return type == GDB_BP_SW ? gdb_stub_sw_bp(g, cpu, insert, addr)
				 : gdb_stub_hw_bp(g, cpu, insert, type, addr, len);
}

/* Every breakpoint out, every vCPU's debug state cleared, the guest running on. */
static void gdb_stub_release(struct gdb_stub *g)
{
	unsigned n = gdb_stub_ncpus(g);

	pthread_mutex_lock(&g->lock);
	for (int i = 0; i < GDB_SW_BP_MAX; i++) {
		uint8_t *host;

		if (!g->sw[i].used)
			continue;
		host = guest_mem_ptr(&g->vm->mem, g->sw[i].gpa, 1);
		if (host && *host == 0xcc) {
			*host = g->sw[i].orig;
			guest_mem_mark_dirty(&g->vm->mem, g->sw[i].gpa, 1);
		}
		g->sw[i].used = false;
	}
	g->nsw = 0;
	memset(g->hw, 0, sizeof(g->hw));
	memset(g->has_pending, 0, n * sizeof(*g->has_pending));
	if (g->stopped && gdb_stub_arm(g, NULL))
		log_warn("gdb: clearing the vCPUs' debug state failed");
	pthread_mutex_unlock(&g->lock);
	g->stopped = false;
	g->released = true;
	vm_unpark_vcpus(g->vm, VCPU_PARK_DEBUG);
}

static void gdb_stub_detach(void *opaque)
{
	struct gdb_stub *g = opaque;

	/* Detach happens stopped; clearing the debug registers needs the vCPUs out of KVM_RUN. */
	if (!g->released && !gdb_stub_stop_all(g))
		gdb_stub_release(g);
}

static void gdb_stub_kill(void *opaque)
{
	struct gdb_stub *g = opaque;

	log_info("gdb: kill requested, stopping the VM");
	vm_stop(g->vm, VM_EXIT_POWEROFF);
}

/* ---- monitor commands ---- */

static int gdb_stub_monitor(void *opaque, const char *cmd, char *out, size_t cap)
{
	struct gdb_stub *g = opaque;
	unsigned n = gdb_stub_ncpus(g);
	size_t o = 0;
	char *end;

	if (!strcmp(cmd, "help")) {
		snprintf(
		    out, cap,
		    "regs          every vCPU's registers, segments, control registers and events\n"
		    "nmi [VCPU]    queue an NMI on one vCPU or all (delivered when they run)\n"
		    "stats         exit counts and times per vCPU\n"
		    "phys ADDR LEN hex dump of guest physical memory (up to 256 bytes)\n");
		return 0;
	}
	if (!strcmp(cmd, "regs")) {
		for (unsigned i = 0; i < n && o < cap; i++) {
			struct x86_regs r;
			int ret = cpu_read_regs(g->vm->vcpus[i].fd, &r);

			if (ret) {
				snprintf(out + o, cap - o, "vCPU %u: cannot read: %s\n", i,
					 strerror(-ret));
				return ret;
			}
			o += regs_format(&r, i, out + o, cap - o);
		}
		return 0;
	}
	if (!strncmp(cmd, "nmi", 3) && (!cmd[3] || cmd[3] == ' ')) {
		unsigned long v = 0;
		bool all = !cmd[3];

		if (!all) {
			errno = 0;
			v = strtoul(cmd + 4, &end, 0);
			if (errno || end == cmd + 4 || *end || v >= n) {
				snprintf(out, cap, "nmi: no vCPU '%s' (0-%u)\n", cmd + 4, n - 1);
				return -EINVAL;
			}
		}
		for (unsigned i = 0; i < n; i++) {
			int ret;

			if (!all && i != v)
				continue;
			ret = cpu_nmi(g->vm->vcpus[i].fd);
			if (ret) {
				snprintf(out, cap, "nmi: vCPU %u: %s\n", i, strerror(-ret));
				return ret;
			}
		}
		snprintf(out, cap, "NMI queued on %s\n", all ? "every vCPU" : "that vCPU");
		return 0;
	}
	if (!strcmp(cmd, "stats")) {
		FILE *f = fmemopen(out, cap, "w");

		if (!f)
			return -errno;
		stats_print(g->vm, f);
		fclose(f);
		return 0;
	}
	if (!strncmp(cmd, "phys ", 5)) {
		uint64_t addr, len;
		uint8_t buf[256];

		errno = 0;
		addr = strtoull(cmd + 5, &end, 0);
		len = *end == ' ' ? strtoull(end + 1, &end, 0) : 0;
		if (errno || *end || !len || len > sizeof(buf) ||
		    gdb_stub_access(g, 0, addr, buf, (size_t)len, true, false) != (ssize_t)len) {
			snprintf(out, cap, "phys: give ADDR LEN (LEN 1-256) of guest RAM\n");
			return -EINVAL;
		}
		for (uint64_t i = 0; i < len && o + 64 < cap; i++)
			o += (size_t)snprintf(out + o, cap - o, "%s%02x",
					      i % 16 ? " "
					      : i    ? "\n"
						     : "",
					      buf[i]);
		snprintf(out + o, cap - o, "\n");
		return 0;
	}
	snprintf(out, cap, "unknown monitor command '%s' (try 'monitor help')\n", cmd);
	return -ENOENT;
}

static void gdb_stub_describe(void *opaque, unsigned cpu, char *out, size_t cap)
{
	struct x86_regs r;
	struct gdb_stub *g = opaque;

	if (!gdb_stub_vcpu(g, cpu) || cpu_read_regs(g->vm->vcpus[cpu].fd, &r)) {
		snprintf(out, cap, "vCPU %u", cpu);
		return;
	}
	snprintf(out, cap, "vCPU %u, %s mode%s", cpu, regs_mode(&r),
		 r.mp_state == X86_MP_HALTED	      ? ", halted"
		 : r.mp_state == X86_MP_UNINITIALIZED ? ", not started"
						      : "");
}

/* ---- the connection ---- */

static void gdb_stub_close_client(struct gdb_stub *g)
{
	if (g->client_fd < 0)
		return;
	event_loop_del(g->loop, g->client_fd);
	close(g->client_fd);
	g->client_fd = -1;
}

static void gdb_stub_send(void *opaque, const void *buf, size_t len)
{
	struct gdb_stub *g = opaque;
	const char *p = buf;
	/* One deadline per reply: a client reading a byte now and then cannot hold the main loop.
	 */
	uint64_t deadline = vm_now_ns() + GDB_SEND_TIMEOUT_MS * 1000000ull;

	while (len && g->client_fd >= 0) {
		ssize_t n = send(g->client_fd, p, len, MSG_NOSIGNAL);
		struct pollfd pfd = { .fd = g->client_fd, .events = POLLOUT };
		uint64_t now = vm_now_ns();
		int left = now < deadline ? (int)((deadline - now) / 1000000) : 0;

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN && left > 0 && poll(&pfd, 1, left) == 1)
			continue;
		log_warn("gdb: client not reading (%s); dropping it",
			 n < 0 ? strerror(errno) : "closed");
		/* The read callback sees the closed fd and detaches. */
		shutdown(g->client_fd, SHUT_RDWR);
		return;
	}
}

static const struct gdb_target_ops gdb_stub_ops = {
	.ncpus = gdb_stub_ncpus,
	.get_regs = gdb_stub_get_regs,
	.set_regs = gdb_stub_set_regs,
	.read_mem = gdb_stub_read_mem,
	.write_mem = gdb_stub_write_mem,
	.breakpoint = gdb_stub_breakpoint,
	.resume = gdb_stub_resume,
	.interrupt = gdb_stub_interrupt,
	.detach = gdb_stub_detach,
	.kill = gdb_stub_kill,
	.monitor = gdb_stub_monitor,
	.describe = gdb_stub_describe,
	.send = gdb_stub_send,
};

static void gdb_stub_client_ready(void *opaque, int fd, uint32_t events)
{
	struct gdb_stub *g = opaque;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	(void)events;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0 && gdb_server_feed(g->srv, buf, (size_t)n) == 0)
		return;
	/* Gone (or detached, or killed): the guest runs on without a debugger. */
	if (n <= 0)
		log_info("gdb: client disconnected; the guest continues");
	gdb_stub_close_client(g);
	if (!vm_stopping(g->vm))
		gdb_stub_detach(g);
}

static void gdb_stub_accept(void *opaque, int fd, uint32_t events)
{
	struct gdb_stub *g = opaque;
	struct gdb_stop st = { .cpu = 0, .signal = GDB_SIGTRAP };
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK), one = 1;

	(void)events;
	if (c < 0)
		return;
	if (g->client_fd >= 0) {
		log_warn("gdb: a second client refused (one at a time)");
		close(c);
		return;
	}
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails on unix sockets */
	if (gdb_stub_stop_all(g)) {
		close(c);
		return;
	}
	if (event_loop_add(g->loop, c, EPOLLIN, gdb_stub_client_ready, g)) {
		close(c);
		gdb_stub_release(g);
		return;
	}
	g->client_fd = c;
	g->released = false;
	g->last = st;
	memset(g->actions, GDB_ACT_HOLD, gdb_stub_ncpus(g));
	log_info("gdb: client connected; the guest is stopped");
	gdb_server_connect(g->srv, &st);
}

/* tcp:HOST:PORT (HOST empty: 127.0.0.1) or unix:PATH. */
static int gdb_stub_listen(struct gdb_stub *g, const char *address, char *err, size_t errlen)
{
	int fd, one = 1, ret;

	if (!strncmp(address, "unix:", 5)) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		const char *path = address + 5;

		if (!*path || strlen(path) >= sizeof(sa.sun_path)) {
			snprintf(err, errlen, "--gdb unix:PATH: path empty or too long");
			return -EINVAL;
		}
		strcpy(sa.sun_path, path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -errno;
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
			ret = -errno;
			snprintf(err, errlen, "cannot listen for gdb on '%s': %s", path,
				 strerror(errno));
			close(fd);
			return ret == -EADDRINUSE ? ret : -EINVAL;
		}
		strcpy(g->unix_path, path);
		g->listen_fd = fd;
		return 0;
	}
	if (!strncmp(address, "tcp:", 4)) {
		char host[256];
		const char *colon = strrchr(address + 4, ':');
		struct addrinfo hints = { .ai_family = AF_UNSPEC,
					  .ai_socktype = SOCK_STREAM,
					  .ai_flags = AI_NUMERICSERV },
				*ai = NULL;
		size_t hl;

		if (!colon || !colon[1] || (hl = (size_t)(colon - address - 4)) >= sizeof(host)) {
			snprintf(err, errlen, "--gdb '%s': want tcp:HOST:PORT or unix:PATH",
				 address);
			return -EINVAL;
		}
		memcpy(host, address + 4, hl);
		host[hl] = '\0';
		ret = getaddrinfo(hl ? host : "127.0.0.1", colon + 1, &hints, &ai);
		if (ret) {
			snprintf(err, errlen, "--gdb '%s': %s", address, gai_strerror(ret));
			return -EINVAL;
		}
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			freeaddrinfo(ai);
			return -errno;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1) < 0) {
			ret = -errno;
			snprintf(err, errlen, "cannot listen for gdb on '%s': %s", address,
				 strerror(errno));
			close(fd);
			freeaddrinfo(ai);
			return ret == -EADDRINUSE ? ret : -EINVAL;
		}
		freeaddrinfo(ai);
		g->listen_fd = fd;
		return 0;
	}
	snprintf(err, errlen, "--gdb '%s': want tcp:HOST:PORT or unix:PATH", address);
	return -EINVAL;
}

int gdb_stub_create(struct gdb_stub **out, const char *address, bool wait, struct event_loop *loop,
		    struct vm *vm, char *err, size_t errlen)
{
	struct gdb_stub *g = calloc(1, sizeof(*g));
	int ret;

	if (!g)
		return -ENOMEM;
	g->vm = vm;
	g->loop = loop;
	g->listen_fd = g->client_fd = g->event_fd = -1;
	/* kvm_pvm runs guest kernel code through KVM's instruction emulator, which checks execute
	 * breakpoints but never data breakpoints (docs/kvm-host-notes.md). */
	g->soft_watch = vm->kvm->restricted_backend;
	pthread_mutex_init(&g->lock, NULL);
	g->pending = calloc(vm->ncpus, sizeof(*g->pending));
	g->has_pending = calloc(vm->ncpus, sizeof(*g->has_pending));
	g->actions = calloc(vm->ncpus, 1);
	g->step_over = calloc(vm->ncpus, sizeof(*g->step_over));
	ret = -ENOMEM;
	if (!g->pending || !g->has_pending || !g->actions || !g->step_over ||
	    gdb_server_create(&g->srv, &gdb_stub_ops, g))
		goto fail;
	ret = gdb_stub_listen(g, address, err, errlen);
	if (ret)
		goto fail;
	g->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (g->event_fd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = event_loop_add(loop, g->event_fd, EPOLLIN, gdb_stub_event, g);
	if (!ret)
		ret = event_loop_add(loop, g->listen_fd, EPOLLIN, gdb_stub_accept, g);
	if (ret) {
		snprintf(err, errlen, "cannot watch the gdb socket: %s", strerror(-ret));
		goto fail;
	}
	/* The hook is read by vCPU threads: set it while none runs (before vm_start). */
	vm->vcpu_ctx.debug_opaque = g;
	vm->vcpu_ctx.debug = gdb_stub_debug_event;
	if (wait) {
		/* The vCPUs park before their first KVM_RUN until a client continues them. */
		for (unsigned i = 0; i < vm->ncpus; i++)
			vcpu_park_self(&vm->vcpus[i], VCPU_PARK_DEBUG);
		g->stopped = true;
	}
	log_info("gdb: listening on %s%s", address, wait ? "; the guest waits for a client" : "");
	*out = g;
	return 0;
fail:
	gdb_stub_destroy(g, 0);
	return ret;
}

bool gdb_stub_has_sw_breakpoints(struct gdb_stub *g)
{
	bool any;

	if (!g)
		return false;
	pthread_mutex_lock(&g->lock);
	any = g->nsw > 0;
	pthread_mutex_unlock(&g->lock);
	return any;
}

void gdb_stub_destroy(struct gdb_stub *g, int status)
{
	if (!g)
		return;
	if (g->client_fd >= 0 && g->srv)
		gdb_server_exited(g->srv, status);
	gdb_stub_close_client(g);
	if (g->listen_fd >= 0) {
		event_loop_del(g->loop, g->listen_fd);
		close(g->listen_fd);
		if (g->unix_path[0])
			unlink(g->unix_path);
	}
	if (g->event_fd >= 0) {
		event_loop_del(g->loop, g->event_fd);
		close(g->event_fd);
	}
	if (g->vm && g->vm->vcpu_ctx.debug_opaque == g) {
		g->vm->vcpu_ctx.debug = NULL;
		g->vm->vcpu_ctx.debug_opaque = NULL;
	}
	gdb_server_destroy(g->srv);
	pthread_mutex_destroy(&g->lock);
	free(g->pending);
	free(g->has_pending);
	free(g->actions);
	free(g->step_over);
	free(g);
}
