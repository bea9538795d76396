#!/bin/sh
# huge_value_sales.sh IN OUT: copies IN (the example shop CSV) with the last row's sales set to
# 1e300, a value no float32 forecast input can hold once standardised.
head -n -1 "$1" > "$2"
tail -n 1 "$1" | awk -F, 'BEGIN { OFS = "," } { $6 = "1e300"; print }' >> "$2"
