"""static_cc_binary: a mostly-static twin of an existing cc_binary, for container images.

The default build links Debian's shared libraries (`@system//:*` carry `-lgrpc++ -lspdlog ...`).
This rule relinks the same program without touching that build:

  * the binary's own `srcs` are compiled again here with its `copts` (one or two files);
  * its dependencies' object files are reused as they are (same actions as the default build);
  * every `-lX` its dependencies ask for becomes `-l:libX.a` (Debian ships the .a archives of
    gRPC, protobuf, Abseil, OpenSSL, c-ares, RE2, upb and zlib), so a missing archive is a link
    error, never a silent fallback to the .so;
  * `-lspdlog -lfmt` (no .a in Debian) are replaced by `spdlog_fmt` (their -inl.h compiled here);
  * glibc (`-lc -lm -lpthread -ldl -lrt`) stays dynamic, and libstdc++/libgcc are linked in with
    `-static-libstdc++ -static-libgcc`.

The result needs only libc.so.6, libm.so.6, the dynamic loader and libmimalloc.so.2 (Debian
ships no mimalloc archive; it is loaded before glibc so its malloc wins) at run time. Debug info is
stripped (symbols are kept, so stack traces still name functions).
"""

load("@bazel_tools//tools/cpp:toolchain_utils.bzl", "find_cpp_toolchain")

_BinarySources = provider(
    doc = "What a cc_binary is made of, collected by an aspect.",
    fields = ["srcs", "hdrs", "copts", "cc_infos"],
)

_SOURCE_EXTENSIONS = ["cc", "cpp", "cxx", "c"]

def _binary_sources_impl(target, ctx):
    if ctx.rule.kind != "cc_binary":
        fail("%s is a %s; static_cc_binary needs a cc_binary" % (target.label, ctx.rule.kind))
    srcs = ctx.rule.files.srcs
    return [_BinarySources(
        srcs = [f for f in srcs if f.extension in _SOURCE_EXTENSIONS],
        hdrs = [f for f in srcs if f.extension not in _SOURCE_EXTENSIONS],
        copts = ctx.rule.attr.copts,
        cc_infos = [d[CcInfo] for d in ctx.rule.attr.deps if CcInfo in d],
    )]

_binary_sources = aspect(implementation = _binary_sources_impl)

# glibc's libraries: linked dynamically (a static glibc breaks NSS and dlopen).
_DYNAMIC_LIBS = ["c", "m", "pthread", "dl", "rt"]

# Shared libraries kept dynamic because Debian ships no .a, and loaded before glibc because they
# replace its symbols (mimalloc's malloc/free); the image copies them (build_image.py, ldd).
_DYNAMIC_FIRST_LIBS = ["mimalloc"]

# Libraries Debian ships without a .a; `spdlog_fmt` provides their symbols instead.
_REPLACED_LIBS = ["spdlog", "fmt"]

# Static registrars that nothing references by symbol: keep every object of these archives.
_WHOLE_ARCHIVE_LIBS = ["grpc++_reflection"]

def _static_libs(user_link_flags, substitutes):
    """The -lX flags of the default link, in first-seen order, split by how they are linked."""
    static = []
    whole = []
    for flag in user_link_flags:
        if not flag.startswith("-l"):
            continue  # -pthread, -Wl,--as-needed, ... : the static link sets its own
        lib = substitutes.get(flag[2:], flag[2:])
        if lib in _DYNAMIC_LIBS or lib in _REPLACED_LIBS or lib in _DYNAMIC_FIRST_LIBS:
            continue
        bucket = whole if lib in _WHOLE_ARCHIVE_LIBS else static
        if lib not in bucket:
            bucket.append(lib)
    return static, whole

def _static_cc_binary_impl(ctx):
    src = ctx.attr.binary[_BinarySources]
    cc_toolchain = find_cpp_toolchain(ctx)
    feature_configuration = cc_common.configure_features(
        ctx = ctx,
        cc_toolchain = cc_toolchain,
        requested_features = ctx.features,
        unsupported_features = ctx.disabled_features,
    )
    cc_infos = src.cc_infos + [ctx.attr._spdlog_fmt[CcInfo]]
    _, compiled = cc_common.compile(
        name = ctx.label.name,
        actions = ctx.actions,
        feature_configuration = feature_configuration,
        cc_toolchain = cc_toolchain,
        srcs = src.srcs,
        private_hdrs = src.hdrs,
        user_compile_flags = src.copts,
        compilation_contexts = [c.compilation_context for c in cc_infos],
    )
    objects = compiled.objects or compiled.pic_objects

    archives = []
    alwayslink = []
    user_link_flags = []
    linking = cc_common.merge_cc_infos(cc_infos = cc_infos).linking_context
    for linker_input in linking.linker_inputs.to_list():
        user_link_flags.extend(linker_input.user_link_flags)
        for lib in linker_input.libraries:
            archive = lib.static_library or lib.pic_static_library
            if archive == None:
                fail("%s: %s has no static archive" % (ctx.label, linker_input.owner))
            if lib.alwayslink:
                alwayslink.append(archive)
            else:
                archives.append(archive)
    static, whole = _static_libs(user_link_flags, ctx.attr.substitutes)

    out = ctx.actions.declare_file(ctx.label.name)
    args = ctx.actions.args()
    args.add("-o", out)
    args.add_all(["-fuse-ld=gold", "-Wl,--gc-sections", "-Wl,-z,relro,-z,now", "-Wl,-S"])
    args.add_all(["-static-libstdc++", "-static-libgcc"])
    first = [lib for lib in _DYNAMIC_FIRST_LIBS if "-l" + lib in user_link_flags]
    if first:
        # This rule owns its whole link line, which never turns --as-needed on: say so for these
        # libraries anyway, since nothing references them by name.
        args.add("-Wl,--no-as-needed")
        args.add_all(first, format_each = "-l%s")
    args.add_all(objects)
    args.add("-Wl,--whole-archive")
    args.add_all(alwayslink)
    args.add_all(whole, format_each = "-l:lib%s.a")
    args.add("-Wl,--no-whole-archive")
    args.add("-Wl,--start-group")
    args.add_all(archives)
    args.add_all(static, format_each = "-l:lib%s.a")
    args.add("-Wl,--end-group")
    # The toolchain's driver is gcc, which links no C++ runtime by itself.
    args.add("-l:libstdc++.a")
    args.add_all(["-pthread", "-lm", "-ldl", "-lrt"])
    # --linkopt applies to every link (e.g. -fsanitize=... under --config=asan).
    args.add_all(ctx.fragments.cpp.linkopts)

    ctx.actions.run(
        executable = cc_common.get_tool_for_action(
            feature_configuration = feature_configuration,
            action_name = "c++-link-executable",
        ),
        arguments = [args],
        inputs = depset(objects + archives + alwayslink, transitive = [cc_toolchain.all_files]),
        outputs = [out],
        mnemonic = "StaticLink",
        progress_message = "Linking %s statically" % out.short_path,
        use_default_shell_env = True,
    )
    return [DefaultInfo(
        files = depset([out]),
        executable = out,
    )]

static_cc_binary = rule(
    implementation = _static_cc_binary_impl,
    doc = "Relinks a cc_binary with static archives for everything but glibc (see file doc).",
    attrs = {
        "binary": attr.label(
            mandatory = True,
            aspects = [_binary_sources],
            doc = "The cc_binary to relink.",
        ),
        "substitutes": attr.string_dict(
            doc = "Archive to link instead of a library, e.g. {\"grpc\": \"grpc_unsecure\"} " +
                  "for a client that never uses TLS.",
        ),
        "_spdlog_fmt": attr.label(default = "//tools/image:spdlog_fmt"),
        "_cc_toolchain": attr.label(default = "@bazel_tools//tools/cpp:current_cc_toolchain"),
    },
    executable = True,
    fragments = ["cpp"],
    toolchains = ["@bazel_tools//tools/cpp:toolchain_type"],
    incompatible_use_toolchain_transition = True,
)
