/* Unit tests of the VM-wide state section (PIT, clock, irqchips): round trip and refusals. The
 * KVM side (vm_state_get/set) needs /dev/kvm and is not exercised here. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/vm_state.h"
#include "test.h"

static void sample(struct vm_state *s)
{
	uint8_t *b = (uint8_t *)s;

	for (size_t i = 0; i < sizeof(*s); i++)
		b[i] = (uint8_t)(i * 13 + 5);
	s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
}

static void test_vm_state(void)
{
	struct vm_state *s = calloc(1, sizeof(*s)), *t = calloc(1, sizeof(*t));
	struct state_writer w;
	struct state_reader r;

	sample(s);
	state_writer_init(&w);
	vm_state_save(s, &w);
	CHECK_EQ(state_writer_result(&w), 0);
	state_reader_init(&r, w.buf, w.len);
	CHECK_EQ(vm_state_load(&r, t), 0);
	CHECK(!memcmp(&s->pit, &t->pit, sizeof(s->pit)));
	CHECK(!memcmp(&s->clock, &t->clock, sizeof(s->clock)));
	CHECK(!memcmp(&s->ioapic, &t->ioapic, sizeof(s->ioapic)));
	/* Truncated anywhere: refused. */
	for (size_t len = 0; len < w.len; len += len < 40 ? 1 : 61) {
		state_reader_init(&r, w.buf, len);
		CHECK_EQ(vm_state_load(&r, t), -EINVAL);
	}
	state_writer_free(&w);
	/* Chips in the wrong slots: refused. */
	s->pic_slave.chip_id = KVM_IRQCHIP_IOAPIC;
	state_writer_init(&w);
	vm_state_save(s, &w);
	state_reader_init(&r, w.buf, w.len);
	CHECK_EQ(vm_state_load(&r, t), -EINVAL);
	CHECK(!strcmp(r.why, "irqchip state in the wrong slot"));
	state_writer_free(&w);
	/* A structure of another size (another kernel's headers): refused. */
	sample(s);
	state_writer_init(&w);
	vm_state_save(s, &w);
	w.buf[12] ^= 4; /* the PIT's length prefix */
	state_reader_init(&r, w.buf, w.len);
	CHECK_EQ(vm_state_load(&r, t), -EINVAL);
	state_writer_free(&w);
	CHECK(vm_state_get(-1, t) < 0);
	CHECK(vm_state_set_irqchip(-1, s) < 0);
	CHECK(vm_state_set_timers(-1, s) < 0);
	free(s);
	free(t);
}

int main(void)
{
	RUN_TEST(test_vm_state);
	TEST_EXIT();
}
