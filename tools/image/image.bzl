"""sluice_image: an OCI image of Sluice with one configuration baked in, built without an engine.

    load("//tools/image:image.bzl", "sluice_image")
    sluice_image(name = "image", config = "sluice.json")

Outputs `image.oci/` (an OCI image layout, tagged with the git revision), `image.oci.tar` (the same
layout as a tar, skopeo's `oci-archive:`) and `image.digest` (the manifest digest). The image holds
the statically linked `sluice` and `sluicectl`, glibc and mimalloc, the host's CA bundle, a
non-root user (65532) and the configuration at /etc/sluice/sluice.json; the entrypoint is
`sluice run -c /etc/sluice/sluice.json`. tools/image/build_image.py says how it stays
reproducible.

`bazel run :image` prints the paths, the digest and the skopeo command that pushes it. It loads
nothing into any engine and pushes nothing.
"""

HostFilesStamp = provider(
    doc = "Value of //tools/image:host_files_stamp.",
    fields = ["value"],
)

def _host_files_stamp_impl(ctx):
    return HostFilesStamp(value = ctx.build_setting_value)

# The CA bundle, glibc and libmimalloc are copied from the host, and Bazel does not see them change. Every
# commit rebuilds the image anyway (the revision is stamped into the binary); to rebuild the same
# commit after `apt-get upgrade`, give this flag a new value:
#   bazel build --//tools/image:host_files_stamp=$(date +%s) //deploy:image
# Only the image action runs again.
host_files_stamp = rule(
    implementation = _host_files_stamp_impl,
    build_setting = config.string(flag = True),
)

def _sluice_image_impl(ctx):
    layout = ctx.actions.declare_directory(ctx.label.name + ".oci")
    archive = ctx.actions.declare_file(ctx.label.name + ".oci.tar")
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    args = ctx.actions.args()
    args.add(ctx.file._builder)
    args.add("--sluice", ctx.executable.sluice)
    args.add("--sluicectl", ctx.executable.sluicectl)
    args.add("--config", ctx.file.config)
    args.add("--ca-bundle", ctx.attr.ca_bundle)
    args.add("--layout", layout.path)
    args.add("--archive", archive)
    args.add("--digest", digest)
    if ctx.attr.stamp_name:
        args.add("--stamp-name")
    if ctx.attr.source:
        args.add("--source", ctx.attr.source)
    stamp = ctx.attr._host_files_stamp[HostFilesStamp].value
    if stamp:
        args.add("--host-files-stamp", stamp)
    ctx.actions.run(
        # Debian's interpreter, not whatever python3 comes first on a developer's PATH.
        executable = "/usr/bin/python3",
        arguments = [args],
        inputs = [ctx.file._builder, ctx.executable.sluice, ctx.executable.sluicectl, ctx.file.config],
        outputs = [layout, archive, digest],
        mnemonic = "OciImage",
        progress_message = "Building OCI image %s" % ctx.label,
    )

    launcher = ctx.actions.declare_file(ctx.label.name + ".info.sh")
    ctx.actions.expand_template(
        template = ctx.file._info_template,
        output = launcher,
        substitutions = {
            "%{layout}": layout.short_path,
            "%{archive}": archive.short_path,
            "%{digest}": digest.short_path,
            "%{label}": str(ctx.label),
        },
        is_executable = True,
    )
    return [DefaultInfo(
        files = depset([layout, archive, digest]),
        executable = launcher,
        runfiles = ctx.runfiles(files = [layout, archive, digest]),
    )]

sluice_image = rule(
    implementation = _sluice_image_impl,
    doc = "An OCI image of Sluice with `config` at /etc/sluice/sluice.json (see file doc).",
    executable = True,
    attrs = {
        "config": attr.label(
            mandatory = True,
            allow_single_file = [".json"],
            doc = "The gateway configuration; the build fails unless `sluice check` accepts it.",
        ),
        "stamp_name": attr.bool(
            default = True,
            doc = "Set SLUICE_NAME in the image to the config's name + ' rev-<git revision>', " +
                  "so admin.Admin/Status and sluice_build_info name the revision that is live.",
        ),
        "source": attr.string(doc = "Optional org.opencontainers.image.source label (repo URL)."),
        "ca_bundle": attr.string(
            default = "/etc/ssl/certs/ca-certificates.crt",
            doc = "Host CA bundle copied into the image (Debian's ca-certificates).",
        ),
        "sluice": attr.label(
            default = "//tools/image:sluice_static",
            executable = True,
            cfg = "target",
        ),
        "sluicectl": attr.label(
            default = "//tools/sluicectl:sluicectl_static",
            executable = True,
            cfg = "target",
        ),
        "_host_files_stamp": attr.label(default = "//tools/image:host_files_stamp"),
        "_builder": attr.label(default = "//tools/image:build_image.py", allow_single_file = True),
        "_info_template": attr.label(default = "//tools/image:image_info.sh.tpl", allow_single_file = True),
    },
)
