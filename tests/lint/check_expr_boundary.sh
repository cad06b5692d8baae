#!/bin/bash
# The expression library knows nothing of the sidecar's API schema: no file under DIR
# (default sidecar/expr) may include a dealcoach proto header, name the dealcoach.v1
# package or namespace, or link the generated dealcoach_proto library. The opportunity
# schema lives in sidecar/oppschema (see sidecar/expr/schema.h).
#
# Usage: check_expr_boundary.sh [DIR]      exit 0 clean, 1 with the offending lines.
#        check_expr_boundary.sh --self-test  plants a violation in a copy of DIR and
#                                            requires the check to catch it.
set -u
if [ "${1:-}" = "--self-test" ]; then
  src=${2:-sidecar/expr}
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  cp -r "$src" "$tmp/expr"
  if ! bash "$0" "$tmp/expr" >/dev/null; then
    echo "self-test: the unplanted copy of $src is not clean"
    exit 1
  fi
  for plant in '#include "dealcoach/v1/opportunity.pb.h"' \
               'const auto* d = dealcoach::v1::Opportunity::descriptor();' \
               '// reads a dealcoach.v1.Opportunity' \
               'namespace v2 = ::dealcoach :: v1;'; do
    cp "$src/value.cc" "$tmp/expr/value.cc"
    printf '%s\n' "$plant" >> "$tmp/expr/value.cc"
    if bash "$0" "$tmp/expr" >/dev/null; then
      echo "self-test: planted line not caught: $plant"
      exit 1
    fi
  done
  cp "$src/value.cc" "$tmp/expr/value.cc"
  printf 'target_link_libraries(x PUBLIC dealcoach_proto)\n' >> "$tmp/expr/CMakeLists.txt"
  if bash "$0" "$tmp/expr" >/dev/null; then
    echo "self-test: a dealcoach_proto link in CMakeLists.txt is not caught"
    exit 1
  fi
  echo "self-test: every planted violation was caught"
  exit 0
fi

dir=${1:-sidecar/expr}
if [ ! -d "$dir" ]; then
  echo "check_expr_boundary: no directory $dir"
  exit 2
fi
pattern='#[[:space:]]*include[[:space:]]*[<"]dealcoach/|dealcoach[[:space:]]*(\.|::|/)[[:space:]]*v1|\bdealcoach_proto\b'
hits=$(grep -rnE "$pattern" "$dir" || true)
if [ -n "$hits" ]; then
  echo "$dir must not know the dealcoach.v1 schema (move it to sidecar/oppschema):"
  echo "$hits"
  exit 1
fi
echo "$dir: no dealcoach.v1 include, name or link"
exit 0
