#ifndef SEGMENT_BUILD_H
#define SEGMENT_BUILD_H

/// The product version, the commit and the moment this file was compiled: the manifest passes
/// the first two as macros (Swift has no string defines, C has).
const char *segment_build_version(void);
const char *segment_build_commit(void);
const char *segment_build_date(void);

#endif
