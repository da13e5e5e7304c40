"""sluice_cc_proto: one .proto -> C++ message (and optionally gRPC) code, via Debian's protoc."""

def sluice_cc_proto(name, src, grpc = False, deps = [], visibility = None):
    """Generates <name> (a cc_library) and <name>_descriptor_set from one .proto file.

    Args:
      name: cc_library name.
      src: the .proto file, in this package.
      grpc: also run grpc_cpp_plugin.
      deps: other sluice_cc_proto targets this file imports.
      visibility: passed through.
    """
    base = src[:-len(".proto")]
    pkg = native.package_name()
    outs = [base + ".pb.h", base + ".pb.cc"]
    if grpc:
        outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
    plugin = ""
    if grpc:
        plugin = "--grpc_out=$(GENDIR) --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin "
    native.genrule(
        name = name + "_gen",
        srcs = [src],
        outs = outs,
        cmd = "protoc -I. -I/usr/include --cpp_out=$(GENDIR) " + plugin + "$(location " + src + ")",
    )
    native.genrule(
        name = name + "_descriptor_set",
        srcs = [src],
        outs = [base + ".protoset"],
        cmd = "protoc -I. -I/usr/include --include_imports --descriptor_set_out=$@ $(location " + src + ")",
        visibility = visibility,
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = deps + ["@system//:grpc" if grpc else "@system//:protobuf"],
        visibility = visibility,
    )

def sluice_system_cc_proto(name, src, root = "/usr/share/grpc-proto", grpc = False,
                           testonly = False, visibility = None):
    """Compiles a .proto installed by a Debian package under its canonical name.

    For example src = "grpc/health/v1/health.proto" (package grpc-proto): the descriptor is
    registered as "grpc/health/v1/health.proto", as every other gRPC implementation registers it,
    and the headers are included as "grpc/health/v1/health.pb.h".

    Args:
      name: cc_library name.
      src: path of the .proto under `root`.
      root: the import root it is installed under.
      grpc: also run grpc_cpp_plugin.
      testonly: passed through.
      visibility: passed through.
    """
    base = src[:-len(".proto")]
    outs = [base + ".pb.h", base + ".pb.cc"]
    plugin = ""
    if grpc:
        outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
        plugin = "--grpc_out=$(RULEDIR) --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin "
    native.genrule(
        name = name + "_gen",
        outs = outs,
        cmd = "protoc -I" + root + " -I/usr/include --cpp_out=$(RULEDIR) " + plugin + root + "/" + src,
        testonly = testonly,
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        strip_include_prefix = "/" + native.package_name(),
        deps = ["@system//:grpc" if grpc else "@system//:protobuf"],
        testonly = testonly,
        visibility = visibility,
    )
