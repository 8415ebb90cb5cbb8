/*
 * The snapshot state file: a fixed header (magic, format version, what the host and KVM looked
 * like, the payload's length and CRC-32C) followed by the payload, a stream of state sections
 * (state.h). Parsing trusts nothing: every field is checked here, once, and a file that fails
 * gets one line naming the problem.
 */
#ifndef KVMBOX_SNAPSHOT_FILE_H
#define KVMBOX_SNAPSHOT_FILE_H

#include <stddef.h>
#include <stdint.h>

#define SNAPSHOT_MAGIC "KVMBOXSN"
#define SNAPSHOT_VERSION 1u
#define SNAPSHOT_HEADER_SIZE 64u
#define SNAPSHOT_MAX_PAYLOAD (256u << 20) /* device and vCPU state, never guest RAM */

/* What a snapshot depends on in the host (restoring elsewhere must match these), and its id. */
struct snapshot_host {
	uint32_t backend;    /* enum kvm_backend of src/kvm.h (VMX, SVM, pvm...) */
	uint32_t vendor;     /* CPU vendor: CPUID.0 EBX, the first 4 vendor bytes */
	uint32_t xsave_size; /* bytes of the XSAVE image KVM gives for a vCPU */
	uint32_t ncpus;	     /* vCPUs in the snapshot */
	uint32_t tsc_khz;    /* the vCPUs' TSC frequency (0: unknown); a restore scales to it */
	uint64_t id;	     /* this snapshot (random, not 0): its memory file carries the same */
};

struct snapshot_header {
	uint32_t version;
	uint64_t payload_len;
	uint32_t crc;
	struct snapshot_host host;
};

/* CRC-32C (Castagnoli), as iSCSI and ext4 use it: crc = 0 to start. */
uint32_t snapshot_crc32c(uint32_t crc, const void *buf, size_t len);

/* The header for payload, in out[SNAPSHOT_HEADER_SIZE]. */
void snapshot_header_build(uint8_t *out, const struct snapshot_host *host, const void *payload,
			   size_t len);

/*
 * Check a whole file image: header fields, payload length against the file, the checksum. On
 * success *hdr is filled and the payload is buf[SNAPSHOT_HEADER_SIZE, + hdr->payload_len).
 * -EINVAL with a one-line reason in err otherwise.
 */
int snapshot_file_parse(const void *buf, size_t len, struct snapshot_header *hdr, char *err,
			size_t errlen) __attribute__((warn_unused_result));

/* Whether a snapshot taken on saved can be restored on here; -EINVAL with the reason if not. */
int snapshot_host_check(const struct snapshot_host *saved, const struct snapshot_host *here,
			char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Write header + payload to path atomically (a temporary file in the same directory, fsync,
 * rename), so an interrupted snapshot never leaves a half-written file under path.
 */
int snapshot_file_write(const char *path, const struct snapshot_host *host, const void *payload,
			size_t len, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Read and parse path: *buf (malloc'd, the caller frees) holds the whole file. */
int snapshot_file_read(const char *path, uint8_t **buf, size_t *len, struct snapshot_header *hdr,
		       char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
