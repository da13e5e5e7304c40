#!/bin/sh
# `bazel run %{label}`: says where the image is and how to push it. Loads nothing, pushes nothing.
set -eu
layout=$(readlink -f "%{layout}")
archive=$(readlink -f "%{archive}")
digest=$(cat "%{digest}")
tag=$(sed -n 's/.*"org.opencontainers.image.ref.name":"\([^"]*\)".*/\1/p' "$layout/index.json")
cat <<INFO
%{label}: OCI image (nothing loaded, nothing pushed)
  digest   $digest
  tag      $tag
  layout   $layout
  archive  $archive
Inspect:   skopeo inspect oci:$layout:$tag
Push:      skopeo copy oci:$layout:$tag docker://REGISTRY/sluice:$tag
      or   skopeo copy oci-archive:$archive docker://REGISTRY/sluice:$tag
INFO
