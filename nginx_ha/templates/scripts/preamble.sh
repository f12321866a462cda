# nginx-ha: every script the program or the lab runs starts here; its parameters come
# next (NAME='value' lines, nginx_ha/render/params.py), then the script itself.
set -euo pipefail
