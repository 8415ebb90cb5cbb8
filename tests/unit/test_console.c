/* Unit tests of the console escape keys (Ctrl-A x / h / a). */
#include "console.h"
#include "test.h"

static void test_escape(void)
{
	struct console_escape e = { false };
	uint8_t out;
	size_t n;

	CHECK_EQ(console_escape_feed(&e, 'l', &out, &n), CONSOLE_NONE);
	CHECK_EQ(n, 1);
	CHECK_EQ(out, 'l');
	CHECK_EQ(console_escape_feed(&e, 0x01, &out, &n), CONSOLE_NONE);
	CHECK_EQ(n, 0);
	CHECK_EQ(console_escape_feed(&e, 'x', &out, &n), CONSOLE_QUIT);
	CHECK_EQ(n, 0);
	CHECK_EQ(console_escape_feed(&e, 'x', &out, &n), CONSOLE_NONE); /* plain x again */
	CHECK_EQ(out, 'x');
	console_escape_feed(&e, 0x01, &out, &n);
	CHECK_EQ(console_escape_feed(&e, 'h', &out, &n), CONSOLE_HELP);
	console_escape_feed(&e, 0x01, &out, &n);
	CHECK_EQ(console_escape_feed(&e, 'a', &out, &n), CONSOLE_NONE);
	CHECK_EQ(n, 1);
	CHECK_EQ(out, 0x01);
	console_escape_feed(&e, 0x01, &out, &n);
	CHECK_EQ(console_escape_feed(&e, 'q', &out, &n), CONSOLE_NONE); /* unknown: swallowed */
	CHECK_EQ(n, 0);
	CHECK_EQ(console_escape_feed(&e, 0x03, &out, &n), CONSOLE_NONE); /* Ctrl-C to the guest */
	CHECK_EQ(out, 0x03);
}

int main(void)
{
	RUN_TEST(test_escape);
	TEST_EXIT();
}
