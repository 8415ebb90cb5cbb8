/* Creates the PC platform devices, wires their interrupts and power requests to the VM, registers
 * them. */
#include "arch/x86/platform.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "dev/acpi_pm.h"
#include "dev/debug_exit.h"
#include "dev/fw_cfg.h"
#include "dev/i8042.h"
#include "dev/pc_testdev.h"
#include "dev/rtc.h"
#include "dev/serial8250.h"
#include "log.h"
#include "vm.h"

struct platform {
	struct vm *vm;
	struct power_sink power;
	struct serial8250 com1;
	struct rtc rtc;
	struct i8042 i8042;
	struct acpi_pm pm;
	struct debug_exit debug_exit;
	struct fw_cfg fw_cfg;	      /* --test-devices */
	struct pc_testdev pc_testdev; /* --test-devices */
	int com1_ready;
};

static void platform_power_event(void *opaque, enum power_event event, int status)
{
	struct platform *p = opaque;

	switch (event) {
	case POWER_OFF:
		log_info("guest powered off");
		vm_stop(p->vm, VM_EXIT_POWEROFF);
		break;
	case POWER_RESET:
		log_info("guest requested a reset");
		vm_stop(p->vm, VM_EXIT_REBOOT);
		break;
	case POWER_DEBUG_EXIT:
		log_info("guest wrote the debug-exit port: status %d", status);
		vm_stop(p->vm, status);
		break;
	}
}

static void platform_console_output(void *opaque, uint8_t byte)
{
	(void)opaque;
	/* Unbuffered: the guest's output appears as it is written, and a closed stdout is ignored.
	 */
	if (write(STDOUT_FILENO, &byte, 1) < 0 && errno != EPIPE)
		log_guest("console output failed: %s", strerror(errno));
}

/*
 * pc-testdev's page flush: a protection change makes the host invalidate the page's mappings, so
 * KVM zaps its own and the guest's next access faults it back in (QEMU does this with PROT_NONE).
 * Read-only rather than no access: an I/O thread reading the page meanwhile is unaffected; one
 * writing it in that instant would fault, which is why this device is only for test guests.
 */
static void platform_flush_page(void *opaque, uint64_t gpa)
{
	struct platform *p = opaque;
	long page = sysconf(_SC_PAGESIZE);
	void *host = guest_mem_ptr(&p->vm->mem, gpa, (uint64_t)page);

	if (!host) {
		log_guest("pc-testdev: page flush of 0x%llx outside guest RAM ignored",
			  (unsigned long long)gpa);
		return;
	}
	if (mprotect(host, (size_t)page, PROT_READ) < 0 ||
	    mprotect(host, (size_t)page, PROT_READ | PROT_WRITE) < 0)
		log_guest("pc-testdev: page flush of 0x%llx failed: %s", (unsigned long long)gpa,
			  strerror(errno));
}

size_t platform_console_input(struct platform *p, const uint8_t *buf, size_t len)
{
	return serial8250_rx(&p->com1, buf, len);
}

int platform_ctrl_alt_del(struct platform *p)
{
	return i8042_send_ctrl_alt_del(&p->i8042);
}

static int platform_register(struct vm *vm, uint64_t port, uint64_t len, const struct bus_ops *ops,
			     void *dev, const char *name)
{
	int ret = bus_add(&vm->pio, port, len, ops, dev, name);

	if (ret)
		log_error("cannot register %s at port 0x%llx: %s", name, (unsigned long long)port,
			  strerror(-ret));
	return ret;
}

int platform_create(struct vm *vm)
{
	struct platform *p = calloc(1, sizeof(*p));
	struct irq_line com1_irq = { vm_irq_line, vm, LAYOUT_IRQ_COM1 };
	struct irq_line sci = { vm_irq_line, vm, LAYOUT_IRQ_SCI };
	struct irq_line kbd_irq = { vm_irq_line, vm, LAYOUT_IRQ_KBD };
	struct irq_line aux_irq = { vm_irq_line, vm, LAYOUT_IRQ_AUX };
	int ret;

	if (!p)
		return -ENOMEM;
	vm->platform = p;
	p->vm = vm;
	p->power = (struct power_sink){ platform_power_event, p };

	/* The infallible ones first, so platform_destroy never sees an uninitialised device. */
	rtc_init(&p->rtc);
	i8042_init(&p->i8042, &p->power);
	/*
	 * Keyboard and mouse lines: Linux's i8042 probe needs both interrupts to move on, and
	 * atkbd takes every keyboard byte (probe replies, Ctrl+Alt+Del) from IRQ 1.
	 */
	i8042_set_irqs(&p->i8042, &kbd_irq, &aux_irq);
	acpi_pm_init(&p->pm, &sci, &p->power);
	debug_exit_init(&p->debug_exit, &p->power);
	fw_cfg_init(&p->fw_cfg, vm->cfg->memory, vm->ncpus);
	pc_testdev_init(&p->pc_testdev, &(struct pc_testdev_flush){ platform_flush_page, p },
			&(struct irq_line){ vm_irq_line, vm, 0 });
	ret = serial8250_init(&p->com1, &com1_irq, platform_console_output, p);
	if (ret)
		return ret;
	p->com1_ready = 1;

	ret = platform_register(vm, LAYOUT_PORT_COM1, SERIAL8250_NR_PORTS, &serial8250_bus_ops,
				&p->com1, "com1");
	if (!ret)
		ret = platform_register(vm, LAYOUT_PORT_RTC, 2, &rtc_bus_ops, &p->rtc, "rtc");
	if (!ret)
		ret = platform_register(vm, I8042_PORT_DATA, 1, &i8042_data_ops, &p->i8042,
					"i8042-data");
	if (!ret)
		ret = platform_register(vm, I8042_PORT_CMD, 1, &i8042_cmd_ops, &p->i8042,
					"i8042-cmd");
	if (!ret)
		ret = platform_register(vm, LAYOUT_PORT_ACPI_PM, ACPI_PM_LEN, &acpi_pm_bus_ops,
					&p->pm, "acpi-pm");
	if (!ret && vm->cfg->debug_exit)
		ret = platform_register(vm, LAYOUT_PORT_DEBUG_EXIT, DEBUG_EXIT_NR_PORTS,
					&debug_exit_bus_ops, &p->debug_exit, "debug-exit");
	if (!ret && vm->cfg->test_devices)
		ret = platform_register(vm, FW_CFG_PORT, FW_CFG_NR_PORTS, &fw_cfg_bus_ops,
					&p->fw_cfg, "fw-cfg");
	if (!ret && vm->cfg->test_devices)
		ret = platform_register(vm, PC_TESTDEV_PORT_SCRATCH, 4, &pc_testdev_scratch_ops,
					&p->pc_testdev, "pc-testdev");
	if (!ret && vm->cfg->test_devices)
		ret = platform_register(vm, PC_TESTDEV_PORT_FLUSH, 4, &pc_testdev_flush_ops,
					&p->pc_testdev, "pc-testdev-flush");
	if (!ret && vm->cfg->test_devices)
		ret = platform_register(vm, PC_TESTDEV_PORT_IRQ, PC_TESTDEV_NR_IRQS,
					&pc_testdev_irq_ops, &p->pc_testdev, "pc-testdev-irq");
	if (!ret && vm->cfg->test_devices) {
		ret = bus_add(&vm->mmio, PC_TESTDEV_IOMEM_BASE, PC_TESTDEV_IOMEM_LEN,
			      &pc_testdev_iomem_ops, &p->pc_testdev, "pc-testdev-iomem");
		if (ret)
			log_error("cannot register pc-testdev-iomem: %s", strerror(-ret));
	}
	return ret;
}

void platform_destroy(struct vm *vm)
{
	struct platform *p = vm->platform;

	if (!p)
		return;
	if (p->com1_ready)
		serial8250_destroy(&p->com1);
	acpi_pm_destroy(&p->pm);
	rtc_destroy(&p->rtc);
	i8042_destroy(&p->i8042);
	fw_cfg_destroy(&p->fw_cfg);
	pc_testdev_destroy(&p->pc_testdev);
	free(p);
	vm->platform = NULL;
}
