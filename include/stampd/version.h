/*
 * version.h - the version of this build, as `stampd --version` and
 * `stamp --version` print it: `git describe --always --dirty` of the source
 * at build time (a bare commit hash after the project version, e.g.
 * "0.1.0+g6222a53-dirty"), or the CMake project version when built from a
 * tarball. Generated into the build directory by cmake/version.cmake.
 */
#ifndef STAMPD_VERSION_H
#define STAMPD_VERSION_H

/* pv_version - the NUL-terminated version string (static, never freed). */
extern const char pv_version[];

#endif
