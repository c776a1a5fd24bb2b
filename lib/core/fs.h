/* lib/core/fs.h — file-system helpers shared by the layers that write files. */
#ifndef VOLT_CORE_FS_H
#define VOLT_CORE_FS_H

#include "core/error.h"

/* mkdir -p: creates path and every missing parent (mode 0777 before the umask). An
 * existing folder is fine; anything else is VOLT_ERR_IO naming the folder that could not
 * be made and why. */
VOLT_NODISCARD int volt_make_folders(const char *path);

#endif
