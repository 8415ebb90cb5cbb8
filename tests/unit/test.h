/* A tiny unit-test harness: each test prints PASS/FAIL lines that tests/run.sh counts. */
#ifndef KVMBOX_TEST_H
#define KVMBOX_TEST_H

#include <stdio.h>
#include <stdlib.h>

static int test_failed_ = 0; /* failures in the current test */
static int test_total_fail_ = 0;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
			test_failed_++;                                                            \
		}                                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);     \
		if (a_ != b_) {                                                                    \
			fprintf(stderr, "  %s:%d: %s == %s failed: 0x%llx != 0x%llx\n", __FILE__,  \
				__LINE__, #a, #b, a_, b_);                                         \
			test_failed_++;                                                            \
		}                                                                                  \
	} while (0)

#define RUN_TEST(fn)                                                                               \
	do {                                                                                       \
		test_failed_ = 0;                                                                  \
		fn();                                                                              \
		printf("%s %s\n", test_failed_ ? "FAIL" : "PASS", #fn);                            \
		fflush(stdout);                                                                    \
		test_total_fail_ += !!test_failed_;                                                \
	} while (0)

#define TEST_EXIT() return test_total_fail_ ? 1 : 0

#endif
