/* Metrics: the VM's counters as one JSON object (GET /kvmbox/stats, the metrics file). */
#ifndef KVMBOX_METRICS_H
#define KVMBOX_METRICS_H

#include <stdint.h>

struct vm;
struct virtio_dev;

/*
 * One compact JSON object, no newline, malloc'd (NULL when out of memory):
 *
 *   utc_timestamp_ms, uptime_ms (since process_start_ns, a vm_now_ns() value),
 *   vcpus: { total: V, per_vcpu: [V...] } where V = { exits: { "io": n, ... }, run_ns,
 *          handler_ns } (exit names as in --stats; the named reasons always, others when seen),
 *   buses: { pio: B, mmio: B } where B = { ranges: [{ name, base, accesses }...],
 *          unclaimed_reads, unclaimed_writes },
 *   devices: [{ name, kicks, requests, bytes_in, bytes_out, errors, interrupts }...],
 *   emulated: { mnemonic: count, ..., "unsupported": n }
 *
 * Counters are read with relaxed atomics while the VM runs: each is exact, the set is not a
 * snapshot. Any thread, as long as the VM is not being created or destroyed.
 */
char *metrics_json(const struct vm *vm, uint64_t process_start_ns);
/* The same with an explicit device list instead of the VM's device manager (unit tests). */
char *metrics_json_devices(const struct vm *vm, uint64_t process_start_ns,
			   struct virtio_dev *const *devs, unsigned ndevs);

/* A metrics destination: a regular file (appended to, created 0644 if missing) or a FIFO. */
struct metrics;

/*
 * Open path. A FIFO is opened O_RDWR | O_NONBLOCK, as Firecracker does with its named pipes: the
 * open does not wait for a reader, and lines are dropped (-EAGAIN) while nobody drains it.
 * Anything but a regular file or a FIFO is -EINVAL.
 */
int metrics_open(struct metrics **out, const char *path) __attribute__((warn_unused_result));
/* Append one line (the JSON object and '\n') with a single write. */
int metrics_write(struct metrics *m, const struct vm *vm, uint64_t process_start_ns)
    __attribute__((warn_unused_result));
void metrics_close(struct metrics *m);

#endif
