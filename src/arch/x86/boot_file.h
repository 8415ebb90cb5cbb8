/* Reads a kernel or initrd image into memory, with a size limit and errors that name the file. */
#ifndef KVMBOX_X86_BOOT_FILE_H
#define KVMBOX_X86_BOOT_FILE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Read the whole regular file at path into a malloc'd buffer (*buf, *size; free() it). what names
 * the file's role in messages ("kernel", "initrd"). Files larger than max bytes fail with -EFBIG.
 * Every failure is logged as one line naming the file.
 */
int boot_file_read(const char *path, const char *what, uint64_t max, uint8_t **buf, size_t *size)
    __attribute__((warn_unused_result));

#endif
