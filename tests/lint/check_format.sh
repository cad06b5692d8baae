#!/usr/bin/env bash
# Fails listing every tracked C++ file that clang-format would change.
set -euo pipefail
bad=()
while IFS= read -r f; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done < <(git ls-files '*.h' '*.cc')
if [ ${#bad[@]} -gt 0 ]; then
  printf 'clang-format would change:\n'; printf '  %s\n' "${bad[@]}"
  echo "fix with: clang-format -i <files>"
  exit 1
fi
echo "clang-format: $(git ls-files '*.h' '*.cc' | wc -l) files clean"
