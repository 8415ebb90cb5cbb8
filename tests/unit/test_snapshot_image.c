/* Unit tests of the snapshot state file's payload: configuration, VM state, vCPUs and device
 * state written and read back, the configuration re-parsed through the API's checks, refusals. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/config_file.h"
#include "arch/x86/snapshot_image.h"
#include "config.h"
#include "test.h"

static const char config_json[] =
    "{\"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 128, \"smt\": false}}";

static void fill(void *p, size_t n, unsigned seed)
{
	uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed + i * 7);
}

static void make_image(struct snapshot_image *im)
{
	memset(im, 0, sizeof(*im));
	im->config = strdup(config_json);
	fill(&im->vm, sizeof(im->vm), 3);
	im->vm.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	im->vm.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	im->vm.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	im->ncpus = 2;
	im->cpus = calloc(2, sizeof(*im->cpus));
	for (unsigned i = 0; i < 2; i++) {
		fill(&im->cpus[i].regs, sizeof(im->cpus[i].regs), 10 + i);
		im->cpus[i].xcrs.nr_xcrs = 1;
		im->cpus[i].nmsrs = 1;
		im->cpus[i].msrs[0] = (struct kvm_msr_entry){ .index = 0x10, .data = 1000 + i };
	}
	im->devices = (uint8_t *)strdup("device sections");
	im->devices_len = strlen("device sections");
}

static void test_round_trip(void)
{
	char dir[] = "/tmp/kvmbox-img.XXXXXX", path[128], err[256];
	struct snapshot_host host = { .backend = 2, .vendor = 1, .xsave_size = 4096, .ncpus = 2 },
			     got;
	struct snapshot_image im, back;
	struct vm_config *cfg = calloc(1, sizeof(*cfg));

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/state", dir);
	make_image(&im);
	CHECK_EQ(snapshot_image_write(path, &host, &im, err, sizeof(err)), 0);
	CHECK_EQ(snapshot_image_read(path, &got, &back, err, sizeof(err)), 0);
	CHECK_EQ(got.ncpus, 2);
	CHECK_EQ(got.backend, 2);
	CHECK(!strcmp(back.config, config_json));
	CHECK(!memcmp(&back.vm, &im.vm, sizeof(im.vm)));
	CHECK_EQ(back.ncpus, 2);
	CHECK(!memcmp(&back.cpus[1].regs, &im.cpus[1].regs, sizeof(im.cpus[1].regs)));
	CHECK_EQ(back.cpus[1].msrs[0].data, 1001);
	CHECK_EQ(back.devices_len, im.devices_len);
	CHECK(!memcmp(back.devices, im.devices, im.devices_len));
	/* The configuration goes back through the API's own checks. */
	config_init(cfg);
	CHECK_EQ(config_file_parse(cfg, back.config, strlen(back.config), err, sizeof(err)), 0);
	CHECK_EQ(cfg->cpus, 2);
	CHECK_EQ(cfg->memory, 128ull << 20);
	snapshot_image_free(&back);

	/* Refusals: an inconsistent image, a corrupted file. */
	host.ncpus = 3;
	CHECK_EQ(snapshot_image_write(path, &host, &im, err, sizeof(err)), -EINVAL);
	host.ncpus = 2;
	{
		FILE *f = fopen(path, "r+b");

		CHECK(f != NULL);
		fseek(f, SNAPSHOT_HEADER_SIZE + 20, SEEK_SET);
		fputc('X', f);
		fclose(f);
	}
	CHECK_EQ(snapshot_image_read(path, &got, &back, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "corrupted") != NULL);
	/* A payload whose vCPU count is not the header's: built by hand. */
	{
		struct state_writer w;

		state_writer_init(&w);
		state_section_begin(&w, STATE_TAG('C', 'O', 'N', 'F'), 1);
		state_put_u32(&w, 2);
		state_put_bytes(&w, "{}", 2);
		state_section_end_write(&w);
		vm_state_save(&im.vm, &w);
		state_section_begin(&w, STATE_TAG('C', 'P', 'U', 'S'), 1);
		state_put_u32(&w, 3);
		state_section_end_write(&w);
		CHECK_EQ(snapshot_file_write(path, &host, w.buf, w.len, err, sizeof(err)), 0);
		state_writer_free(&w);
	}
	CHECK_EQ(snapshot_image_read(path, &got, &back, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "vCPU count differs from the header's") != NULL);
	snapshot_image_free(&im);
	unlink(path);
	rmdir(dir);
	free(cfg);
}

int main(void)
{
	RUN_TEST(test_round_trip);
	TEST_EXIT();
}
