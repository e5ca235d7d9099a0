install -d -m 755 /etc/postgresql-common/createcluster.d
echo "listen_addresses = ''" > /etc/postgresql-common/createcluster.d/sandbox.conf
