"""libFuzzer targets that also run as ordinary tests.

sluice_fuzz_target(name, srcs, deps) makes, from one LLVMFuzzerTestOneInput:
  - `name`: the fuzzer (tagged "fuzz"). Built with `--config=fuzz` (clang, libFuzzer, ASan, UBSan)
    it is a real coverage-guided fuzzer (tools/fuzz runs it); otherwise it replays files.
  - `name_corpus_test`: runs the target over its seed corpus, tests/fuzz/corpus/<name>/, which
    also keeps one file per crash ever found. Part of every `bazel test //...` (opt and ASan), so
    a fixed crash stays fixed.
"""

load("//bazel:copts.bzl", "SLUICE_COPTS")

def _attrs(srcs, deps):
    return dict(
        srcs = srcs,
        copts = SLUICE_COPTS,
        deps = deps + select({
            "//bazel:fuzzing": [],
            "//conditions:default": ["//tests/fuzz:replay_main"],
        }),
        linkopts = select({
            "//bazel:fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
    )

def sluice_fuzz_target(name, srcs, deps = []):
    corpus = native.glob(["corpus/%s/*" % name])
    native.cc_binary(name = name, tags = ["fuzz"], **_attrs(srcs, deps))
    native.cc_test(
        name = name + "_corpus_test",
        size = "small",
        data = corpus,
        args = ["$(location %s)" % f for f in corpus],
        **_attrs(srcs, deps)
    )
