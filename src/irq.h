/* An interrupt line as a device model sees it: no KVM inside, so models stay unit-testable. */
#ifndef KVMBOX_IRQ_H
#define KVMBOX_IRQ_H

struct irq_line {
	/* Drive the line: level 1 = asserted. The VM backs this with KVM_IRQ_LINE; tests with a
	 * fake. */
	void (*set)(void *opaque, unsigned gsi, int level);
	void *opaque;
	unsigned gsi;
};

static inline void irq_line_set(const struct irq_line *line, int level)
{
	if (line->set)
		line->set(line->opaque, line->gsi, level);
}

#endif
