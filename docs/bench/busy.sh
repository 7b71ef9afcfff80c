#!/bin/bash
# usage: busy.sh SECONDS -> share of all CPUs busy over that window, from /proc/stat
# (start it a few seconds into a loadtest run, e.g. `sleep 4; docs/bench/busy.sh 7`)
read -r _ u n s i w x y z _ < /proc/stat; b1=$((u+n+s+x+y+z)); t1=$((u+n+s+i+w+x+y+z))
sleep $1
read -r _ u n s i w x y z _ < /proc/stat; b2=$((u+n+s+x+y+z)); t2=$((u+n+s+i+w+x+y+z))
echo "busy $(( 100*(b2-b1)/(t2-t1) ))% of $(nproc) CPUs"
