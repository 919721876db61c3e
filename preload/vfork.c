/* vfork(): a vfork child shares the parent's memory, so its close() and dup2() before exec would
 * rewrite the parent's registry. POSIX lets vfork() be fork(), and here it is. */
#include <unistd.h>

#include "tnat64.h"

TNAT64_EXPORT pid_t vfork(void)
{
	return fork();
}
