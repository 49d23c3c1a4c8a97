#include "segment_build.h"

#ifndef SEGMENT_VERSION
#define SEGMENT_VERSION "unknown"
#endif
#ifndef SEGMENT_COMMIT
#define SEGMENT_COMMIT "unknown"
#endif

const char *segment_build_version(void) { return SEGMENT_VERSION; }
const char *segment_build_commit(void) { return SEGMENT_COMMIT; }
// The compiler's date (SOURCE_DATE_EPOCH, when set, makes it reproducible). The file is compiled
// again whenever the commit macro changes, so this is the build of that commit.
const char *segment_build_date(void) { return __DATE__ " " __TIME__; }
