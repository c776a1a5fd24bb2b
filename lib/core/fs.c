/* lib/core/fs.c — file-system helpers (see fs.h). */
#include "core/fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int volt_make_folders(const char *path) {
    VOLT_CHECK_ARG(path && *path);
    size_t length = strlen(path);
    char *copy = malloc(length + 1);
    VOLT_CHECK_ALLOC(copy, length + 1);
    memcpy(copy, path, length + 1);
    for (size_t i = 1; i <= length; i++) {
        if (copy[i] != '/' && copy[i] != '\0') continue;
        char saved = copy[i];
        copy[i] = '\0';
        if (mkdir(copy, 0777) != 0 && errno != EEXIST) {
            int status =
                VOLT_ERROR(VOLT_ERR_IO, "cannot create folder %s: %s", copy, strerror(errno));
            free(copy);
            return status;
        }
        copy[i] = saved;
    }
    free(copy);
    return VOLT_OK;
}
