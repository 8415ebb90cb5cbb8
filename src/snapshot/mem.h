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
 * After the RAM, one page names the snapshot the file belongs to: magic, the snapshot's id (the
 * state file's header carries the same), the RAM size. A restore refuses a memory file whose id
 * is not its state file's: a pair from two snapshots, or a Diff that did not finish (its id is 0
 * while the pages change), would otherwise restore a guest from mixed memory without a word.
 */
#define SNAPSHOT_MEM_MAGIC "KVMBOXMF"
#define SNAPSHOT_MEM_TRAILER SNAPSHOT_MEM_PAGE

/*
 * Write gm's RAM for the snapshot id.
 * Full (dirty NULL): every page to "<path>.tmp.<pid>", fsynced but not yet in place: the caller
 * writes the state file, then snapshot_mem_commit renames it over path (VMs restored from the old
 * file keep their mapping of it); snapshot_mem_abort removes it.
 * Diff: dirty holds one bit per page of RAM, in file order, and only those pages are written,
 * in place, into path, which must be the memory file of snapshot base_id (the last one this VM
 * took or was restored from); all-zero pages are punched out. The trailer's id is 0 while the
 * pages change. A file that a restored VM maps is refused (it reads its untouched pages from
 * it): the restore holds a shared lock on it, a Diff takes an exclusive one.
 */
int snapshot_mem_save(const char *path, const struct guest_mem *gm, const uint64_t *dirty,
		      uint64_t base_id, uint64_t id, struct snapshot_mem_stats *stats, char *err,
		      size_t errlen) __attribute__((warn_unused_result));
int snapshot_mem_commit(const char *path, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void snapshot_mem_abort(const char *path);

/*
 * Map path over guest RAM laid out like gm's regions (the host pointers stay): MAP_PRIVATE and
 * MAP_FIXED over the regions' existing mappings, kept out of core dumps. The file must be the RAM
 * plus the trailer of snapshot id. A shared lock on the file lasts as long as the mappings. On
 * failure some regions may already map the file: the VM being restored is discarded then. The
 * file must stay as it is while the VM runs (pages not yet written by the guest are read from it).
 */
int snapshot_mem_map(const char *path, struct guest_mem *gm, uint64_t id, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
