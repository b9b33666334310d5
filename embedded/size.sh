#!/usr/bin/env bash
# Flash and static RAM of the firmware with one rule linked versus all of them, as a Markdown
# table: `./size.sh [target...]` (default: thumbv7em-none-eabihf thumbv6m-none-eabi).
# Sizes come from `llvm-size` (rustup component llvm-tools) or `arm-none-eabi-size`.
set -euo pipefail
cd "$(dirname "$0")"

host=$(rustc -vV | sed -n 's/^host: //p')
size_tool="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-size"
if [ ! -x "$size_tool" ]; then
    size_tool=$(command -v arm-none-eabi-size || true)
fi
if [ -z "$size_tool" ]; then
    echo "error: no size tool: run 'rustup component add llvm-tools' or install binutils-arm-none-eabi" >&2
    exit 1
fi

# Bytes of one section of an ELF, from `size -A` (SysV format: name size addr).
section() { "$size_tool" -A "$1" | awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }'; }

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(thumbv7em-none-eabihf thumbv6m-none-eabi)

echo "| target | rules linked (f32 and bf16 params) | .text | .rodata | .bss (static RAM) |"
echo "|---|---|---:|---:|---:|"
for target in "${targets[@]}"; do
    # The default feature set last, so that a following `cargo run --release` finds it built.
    for features in adamw lion schedule-free adamw,lion,schedule-free; do
        cargo build --release --quiet --target "$target" --no-default-features --features "$features"
        elf="target/$target/release/optim-kernels-embedded"
        printf '| %s | %s | %s | %s | %s |\n' "$target" "${features//,/ + }" \
            "$(section "$elf" .text)" "$(section "$elf" .rodata)" "$(section "$elf" .bss)"
    done
done
