"""Wraps Debian's system libraries as cc_library targets in @system.

pkg-config runs once at fetch time, so link lines follow whatever the
machine's -dev packages declare instead of being copied into BUILD files.
"""

# name -> (pkg-config modules, extra linkopts, defines)
_LIBS = {
    "protobuf": (["protobuf"], [], []),
    "grpc": (["grpc++", "protobuf"], [], []),
    # Reflection has no .pc file; --no-as-needed keeps its static registrar.
    "grpc_reflection": ([], ["-Wl,--no-as-needed", "-lgrpc++_reflection", "-Wl,--as-needed"], []),
    "absl": (["absl_status", "absl_statusor", "absl_strings", "absl_time", "absl_synchronization", "absl_str_format"], [], []),
    # Hash maps (absl::flat_hash_map): only the targets that use them link these.
    "absl_containers": (["absl_flat_hash_map", "absl_hash"], [], []),
    "spdlog": (["spdlog"], [], []),
    "gtest": (["gtest", "gmock"], [], []),
    "gtest_main": (["gtest_main"], [], []),
    "ssl": (["openssl"], [], []),
    # HTTP/2 framing, HPACK and flow control for the h2c front (libnghttp2-dev).
    "nghttp2": (["libnghttp2"], [], []),
    # security/bot-detector patterns (libre2-dev).
    "re2": (["re2"], [], []),
    # gzip answers from backends (zlib1g-dev).
    "zlib": (["zlib"], [], []),
    # sluice/cluster-ratelimit's Redis client (libhiredis-dev).
    "hiredis": (["hiredis"], [], []),
    # The gateway's allocator (libmimalloc-dev; no .pc file): linked without --as-needed, since
    # nothing calls it by name, it replaces malloc/free for the whole process by coming before
    # glibc in the load order. Measured in docs/performance.md.
    # SLUICE_MIMALLOC tells main.cc to set its options.
    "mimalloc": ([], ["-Wl,--no-as-needed", "-lmimalloc", "-Wl,--as-needed"], ["SLUICE_MIMALLOC"]),
}

_HEADER_ONLY = {
    # Boost.Beast/Asio are header-only; Asio needs pthread.
    "boost": ["-lpthread"],
    "json": [],
}

def _pkg_config(ctx, modules, flag):
    if not modules:
        return []
    res = ctx.execute(["pkg-config", flag] + modules)
    if res.return_code != 0:
        fail("pkg-config %s %s failed (run tools/setup): %s" % (flag, " ".join(modules), res.stderr))
    return [f for f in res.stdout.strip().split(" ") if f]

def _system_libs_impl(ctx):
    lines = ['package(default_visibility = ["//visibility:public"])', ""]
    for name, (modules, extra, defines) in _LIBS.items():
        libs = _pkg_config(ctx, modules, "--libs") + extra
        cflags = _pkg_config(ctx, modules, "--cflags")
        defs = defines + [f[2:] for f in cflags if f.startswith("-D")]
        lines.append("cc_library(")
        lines.append('    name = "%s",' % name)
        lines.append("    linkopts = %s," % repr(libs))
        lines.append("    defines = %s," % repr(defs))
        lines.append(")")
        lines.append("")
    for name, linkopts in _HEADER_ONLY.items():
        lines.append('cc_library(name = "%s", linkopts = %s)' % (name, repr(linkopts)))
        lines.append("")
    ctx.file("WORKSPACE", 'workspace(name = "system")\n')
    ctx.file("BUILD.bazel", "\n".join(lines))

system_libs = repository_rule(
    implementation = _system_libs_impl,
    local = True,
    doc = "Debian system libraries as cc_library targets.",
)
