#!/bin/bash
# usage: cpu.sh CMD... -> runs CMD, then prints the share of the machine's CPU
# time that was busy and the share the hypervisor stole from this VM over the
# run (/proc/stat). On a shared 2-vCPU VM steal swings from 0 to 30 % within
# minutes and throughput with it: a figure without its steal is half a figure.
read -r _ u n s i w x y z _ < /proc/stat; z1=$z; b1=$((u+n+s+x+y)); t1=$((u+n+s+i+w+x+y+z))
"$@"
rc=$?
read -r _ u n s i w x y z _ < /proc/stat; t=$((u+n+s+i+w+x+y+z-t1))
echo "cpu over the run: busy $(( 100*(u+n+s+x+y-b1)/t ))%, stolen $(( 100*(z-z1)/t ))% of $(nproc) CPUs"
exit $rc
