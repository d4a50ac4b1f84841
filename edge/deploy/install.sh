#!/bin/sh
# Install the Anxin edge agent on Raspberry Pi OS (bookworm): run as root from a clone of the repository.
#   sudo sh edge/deploy/install.sh
# It installs the local Mosquitto (for zigbee2mqtt) and python3-lgpio (GPIO), creates the `anxin` user, a venv in
# /opt/anxin/venv with only the `edge` extra, /etc/anxin/edge.toml from the example (if absent) and the systemd unit.
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" -ne 0 ]; then echo "run as root (sudo sh $0)" >&2; exit 1; fi

apt-get update -q
apt-get install -y -q python3 python3-venv python3-lgpio mosquitto

id anxin >/dev/null 2>&1 || useradd --system --home /var/lib/anxin-edge --shell /usr/sbin/nologin anxin
getent group gpio >/dev/null && usermod -aG gpio anxin

# --system-site-packages: gpiozero finds Debian's lgpio (a compiled module) without building it from PyPI.
python3 -m venv --system-site-packages /opt/anxin/venv
/opt/anxin/venv/bin/pip install --quiet --upgrade pip
/opt/anxin/venv/bin/pip install --quiet "$SRC[edge]"

install -d -m 0750 -o root -g anxin /etc/anxin
if [ ! -f /etc/anxin/edge.toml ]; then
    install -m 0640 -o root -g anxin "$SRC/edge/deploy/edge.example.toml" /etc/anxin/edge.toml
    echo "wrote /etc/anxin/edge.toml: set home, [mqtt] password and your sensors, then run the doctor"
fi
install -m 0644 "$SRC/edge/deploy/anxin-edge.service" /etc/systemd/system/anxin-edge.service
systemctl daemon-reload
systemctl enable anxin-edge.service
echo "next: edit /etc/anxin/edge.toml, then"
echo "  sudo -u anxin ANXIN_EDGE_CONFIG=/etc/anxin/edge.toml /opt/anxin/venv/bin/anxin edge doctor"
echo "  sudo systemctl start anxin-edge && journalctl -u anxin-edge -f"
