/*
 * The decoder against GNU objdump: every instruction of this test program's own machine code and
 * of the C library it runs with (hundreds of thousands of instructions of every kind compilers and
 * hand-written assembly use: SSE, AVX, AVX-512, x87, string, system) must decode to the length
 * objdump gives it. OBJDUMP_BINARY=FILE checks another binary instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_fake.h"

static unsigned hexval(int ch)
{
	return ch <= '9' ? (unsigned)(ch - '0') : (unsigned)(ch - 'a' + 10);
}

struct counts {
	unsigned total, unknown, wrong, ud, shown;
};

/* One objdump line: its bytes into b[] (after *n carried-over bytes); the mnemonic in *mn. */
static unsigned parse_line(const char *line, uint8_t *b, unsigned n, const char **mn)
{
	const char *tab = strchr(line, '\t'), *colon = strchr(line, ':'), *q;

	if (!tab || !colon || colon > tab)
		return 0;
	for (q = tab + 1; q[0] && q[1] && q[0] != '\t' && q[0] != ' ' && n < 16; q += 3)
		b[n++] = (uint8_t)(hexval(q[0]) << 4 | hexval(q[1]));
	while (*q == ' ')
		q++;
	*mn = *q == '\t' ? q + 1 : q;
	return n;
}

static void check_one(struct counts *k, const uint8_t *b, unsigned n, const char *line)
{
	struct emu_cpu c = cpu64();
	struct emu_insn insn;
	struct emu_exception exc;
	int ret;

	k->total++;
	ret = emu_decode(&insn, &c, b, n, &fake_ops, NULL, &exc);
	if (ret == -ENOTSUP) {
		k->unknown++;
		if (k->shown++ < 10)
			fprintf(stderr, "  unknown: %s", line);
		return;
	}
	/* objdump folds FWAIT into the x87 instruction after it; the CPU runs two instructions. */
	if (!ret && b[0] == 0x9b && insn.len == 1 && n > 1) {
		check_one(k, b + 1, n - 1, line);
		return;
	}
	/* #UD (say REX before VEX, which objdump prints apart): no length to compare. */
	if (!ret && exc.valid && exc.vector == EMU_X_UD) {
		k->ud++;
		if (k->shown++ < 20)
			fprintf(stderr, "  #UD: %s", line);
		return;
	}
	if (ret || insn.len != n) {
		k->wrong++;
		if (k->shown++ < 20)
			fprintf(stderr, "  length %u (ret %d), objdump %u: %s", insn.len, ret, n,
				line);
	}
}

static void check_binary(const char *path, struct counts *k)
{
	char cmd[600], line[512];
	uint8_t carry[16];
	unsigned ncarry = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "objdump -d --insn-width=16 '%s' 2>/dev/null", path);
	p = popen(cmd, "r");
	CHECK(p != NULL);
	if (!p)
		return;
	while (fgets(line, sizeof(line), p)) {
		uint8_t b[32];
		const char *mn = "";
		unsigned n;

		memcpy(b, carry, ncarry);
		n = parse_line(line, b, ncarry, &mn);
		if (n <= ncarry || strstr(line, "(bad)"))
			continue;
		/* A lone REX objdump prints before another prefix belongs to the next instruction.
		 */
		if (!strncmp(mn, "rex", 3) && n - ncarry == 1 && n < 15) {
			memcpy(carry, b, n);
			ncarry = n;
			continue;
		}
		ncarry = 0;
		if (n <= EMU_MAX_INSN_LEN)
			check_one(k, b, n, line);
	}
	pclose(p);
}

/* The C library this process runs with, from /proc/self/maps. */
static int libc_path(char *out, size_t len)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		char *path = strchr(line, '/');

		if (path && strstr(path, "/libc.so")) {
			path[strcspn(path, "\n")] = 0;
			snprintf(out, len, "%s", path);
			found = 1;
		}
	}
	fclose(f);
	return found;
}

static void test_objdump_lengths(void)
{
	const char *only = getenv("OBJDUMP_BINARY");
	char libc[512];
	struct counts k = { 0 };

	fake_reset();
	if (only) {
		check_binary(only, &k);
	} else {
		check_binary("/proc/self/exe", &k);
		CHECK(libc_path(libc, sizeof(libc)));
		check_binary(libc, &k);
	}
	fprintf(stderr,
		"  %u instructions: %u unknown, %u #UD, %u with a length other than objdump's\n",
		k.total, k.unknown, k.ud, k.wrong);
	CHECK(k.total > (only ? 0u : 100000u)); /* objdump ran and found real code */
	CHECK_EQ(k.wrong, 0);
	CHECK_EQ(k.unknown, 0);
	CHECK_EQ(k.ud, 0);
}

int main(void)
{
	RUN_TEST(test_objdump_lengths);
	free(fake.mem);
	TEST_EXIT();
}
