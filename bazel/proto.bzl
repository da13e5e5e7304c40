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
