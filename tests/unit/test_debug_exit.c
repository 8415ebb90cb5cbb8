/* Unit tests for the debug-exit port: status encoding for every width, reads, hostile accesses. */
#include "dev/debug_exit.h"
#include "test.h"
#include "state_check.h"

#include <string.h>

struct fake_power {
	unsigned calls;
	enum power_event event;
	int status;
};

static void fake_power_event(void *opaque, enum power_event event, int status)
{
	struct fake_power *p = opaque;

	p->calls++;
	p->event = event;
	p->status = status;
}

static struct fake_power pw;
static struct debug_exit dx;

static void setup(void)
{
	struct power_sink sink = { .event = fake_power_event, .opaque = &pw };

	memset(&pw, 0, sizeof(pw));
	debug_exit_init(&dx, &sink);
}

static int write_val(uint64_t off, uint64_t v, unsigned len)
{
	uint8_t buf[8];

	for (unsigned i = 0; i < 8; i++)
		buf[i] = (uint8_t)(v >> (8 * i));
	pw.calls = 0;
	debug_exit_bus_ops.write(&dx, off, buf, len);
	CHECK_EQ(pw.calls, 1);
	CHECK_EQ(pw.event, POWER_DEBUG_EXIT);
	return pw.status;
}

static void test_status(void)
{
	setup();
	CHECK_EQ(write_val(0, 0, 1), 1);
	CHECK_EQ(write_val(0, 0x10, 1), 0x21); /* the conventional "success" of test guests */
	CHECK_EQ(write_val(0, 0x11, 1), 0x23);
	CHECK_EQ(write_val(0, 0x7f, 1), 0xff);
	CHECK_EQ(write_val(0, 0x80, 1), 1); /* 8-bit exit status: bit 7 of v is lost */
	CHECK_EQ(write_val(0, 0x0110, 2), 0x21);
	CHECK_EQ(write_val(0, 0x12345603, 4), 0x07);
	CHECK_EQ(write_val(0, 0xffffffffffffffffull, 8), 0xff);
	CHECK_EQ(write_val(3, 0x05, 1), 0x0b); /* any offset of the range, as in QEMU */
}

static void test_read(void)
{
	uint8_t buf[8];

	setup();
	for (unsigned len = 1; len <= 8; len *= 2) {
		memset(buf, 0, sizeof(buf));
		debug_exit_bus_ops.read(&dx, 0, buf, len);
		for (unsigned i = 0; i < 8; i++)
			CHECK_EQ(buf[i], i < len ? 0xff : 0);
	}
	CHECK_EQ(pw.calls, 0);
}

static void test_hostile(void)
{
	uint8_t buf[8] = { 0 };

	setup();
	debug_exit_bus_ops.write(&dx, UINT64_MAX, buf, 0);
	CHECK_EQ(pw.calls, 0);
	debug_exit_bus_ops.write(&dx, UINT64_MAX, buf, 8);
	CHECK_EQ(pw.calls, 1);
	debug_exit_bus_ops.read(&dx, UINT64_MAX, buf, 0);
	/* No sink wired: writes are harmless. */
	debug_exit_init(&dx, NULL);
	debug_exit_bus_ops.write(&dx, 0, buf, 4);
	CHECK_EQ(pw.calls, 1);
}

/* No state, but a section all the same, so that a snapshot names the device. */
static void test_snapshot(void)
{
	struct state_blob saved;
	struct debug_exit dx2;
	const struct state_target st = state_target_bus(&debug_exit_bus_ops, &dx),
				  st2 = state_target_bus(&debug_exit_bus_ops, &dx2);
	struct fake_power pw2 = { 0 };
	struct power_sink sink2 = { .event = fake_power_event, .opaque = &pw2 };

	CHECK(debug_exit_bus_ops.save == debug_exit_save);
	CHECK(debug_exit_bus_ops.load == debug_exit_load);
	CHECK(!debug_exit_bus_ops.state_shared);
	setup();
	state_check_save(&st, &saved);
	state_check_header(&saved, STATE_TAG('D', 'B', 'G', 'X'), 0);
	debug_exit_init(&dx2, &sink2);
	CHECK_EQ(state_check_load(&st2, &saved), 0);
	CHECK(state_check_same(&st2, &saved));
	CHECK_EQ(pw2.calls, 0);
	/* The loaded device keeps its own sink. */
	debug_exit_bus_ops.write(&dx2, 0, "\x10", 1);
	CHECK_EQ(pw2.calls, 1);
	CHECK_EQ(pw2.status, 0x21);

	state_check_hostile(&st2, &saved);
	CHECK_EQ(pw2.calls, 1);
	CHECK_EQ(write_val(0, 0x11, 1), 0x23);
	state_blob_free(&saved);
}

int main(void)
{
	RUN_TEST(test_status);
	RUN_TEST(test_read);
	RUN_TEST(test_hostile);
	RUN_TEST(test_snapshot);
	TEST_EXIT();
}
