/*
 * The snapshot memory file: guest RAM, region after region in guest-physical order, page-aligned,
 * so that a restore maps it MAP_PRIVATE (copy-on-write: pages load on first touch, and clones share
 * the file through the page cache). Never-touched pages are holes. A Diff snapshot writes only the
 * pages a dirty bitmap names into an existing file.
 */
#ifndef KVMBOX_SNAPSHOT_MEM_H
#define KVMBOX_SNAPSHOT_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "guest_mem.h"

#define SNAPSHOT_MEM_PAGE 4096u

/* What a save did: pages written, pages left as holes (all zero). */
struct snapshot_mem_stats {
	uint64_t written, holes;
};

/*
 * Write gm's RAM to path. dirty: NULL for a Full snapshot, written to a new file renamed over
 * path (VMs restored from the old one keep their mapping of it); else one bit per page of RAM, in
 * file order, and only those pages are written into the existing file (a Diff on top of the
 * Full one it was taken after), all-zero ones punched out. A Diff updates that file in place:
 * never take one into a file that restored VMs still map (their untouched pages would change).
 */
int snapshot_mem_save(const char *path, const struct guest_mem *gm, const uint64_t *dirty,
		      struct snapshot_mem_stats *stats, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Map path over guest RAM laid out like gm's regions (the host pointers are replaced): MAP_PRIVATE
 * and MAP_FIXED over the regions' existing mappings, kept out of core dumps. The file must be
 * exactly the RAM size. On failure some regions may already map the file: the VM being restored
 * is discarded then. The file must stay as it is while the VM runs (pages not yet written by the
 * guest are read from it).
 */
int snapshot_mem_map(const char *path, struct guest_mem *gm, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
