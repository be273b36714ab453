# One machine image per service and version: the release installed and its instances enabled
# at boot, by the same roles the multi strategy deploys with (playbooks/bake.yml).
#
# In the lab the EC2 API is the moto emulator, which runs no machines: the builder instance
# exists only in the emulator, and the communicator (ssh_host) and Ansible reach a lab host.
#
# Host keys: Packer 1.6.6's SSH communicator has no host key option and accepts any key
# (golang.org/x/crypto/ssh InsecureIgnoreHostKey). Here it only connects and authenticates
# with the public key (which a man in the middle cannot replay); it runs no command and copies
# nothing. Everything that reaches the host (the artifact, the bake playbook's roles) goes
# through the Ansible provisioner (use_proxy = false: Ansible's own OpenSSH client), which
# trusts only the keys in var.known_hosts_file and refuses any other.

packer {
  required_version = ">= 1.6.6"
}

locals {
  ami_name = "shipyard-${var.service}-${var.version}-${var.timestamp}"
  tags = {
    "shipyard:service"         = var.service
    "shipyard:version"         = var.version
    "shipyard:artifact-sha256" = var.artifact_sha256
    "shipyard:base-ami"        = var.base_ami
    "shipyard:bake-hash"       = var.bake_hash
    "shipyard:managed"         = "true"
    "Name"                     = "shipyard-${var.service}-${var.version}"
  }
}

source "amazon-ebs" "service" {
  region              = var.region
  custom_endpoint_ec2 = var.endpoint_ec2
  source_ami          = var.base_ami
  instance_type       = var.instance_type
  ami_name            = local.ami_name
  ami_description     = "shipyard ${var.service} ${var.version} (bake ${var.bake_hash})"
  tags                = local.tags
  snapshot_tags       = local.tags
  run_tags = {
    "shipyard:bake-id" = var.bake_id
    "shipyard:service" = var.service
  }
  run_volume_tags = {
    "shipyard:bake-id" = var.bake_id
  }

  communicator         = "ssh"
  ssh_username         = var.ssh_username
  ssh_host             = var.ssh_host
  ssh_port             = var.ssh_port
  ssh_keypair_name     = var.ssh_keypair_name
  ssh_private_key_file = var.ssh_private_key_file
  ssh_timeout          = "2m"

  aws_polling {
    delay_seconds = 1
    max_attempts  = 120
  }
}

build {
  sources = ["source.amazon-ebs.service"]

  provisioner "ansible" {
    playbook_file = var.playbook_file
    command       = var.ansible_playbook
    use_proxy     = false
    user          = var.ssh_username
    extra_arguments = [
      "-e", "@${var.vars_file}",
      "-e", "ansible_python_interpreter=/usr/bin/python3",
      # extra variables beat any ansible.cfg or environment that turned checking off (an
      # ssh_args from there would come first on ssh's command line, and ssh keeps the first)
      "-e", "ansible_host_key_checking=true",
      "-e", "ansible_ssh_args='-C -o ControlMaster=auto -o ControlPersist=60s'",
      "-e", "ansible_ssh_common_args='-o UserKnownHostsFile=${var.known_hosts_file} -o StrictHostKeyChecking=yes'",
    ]
    ansible_env_vars = [
      "ANSIBLE_COLLECTIONS_PATH=${var.collections_path}",
      "ANSIBLE_NOCOLOR=True",
      "ANSIBLE_PIPELINING=True",
      "ANSIBLE_RETRY_FILES_ENABLED=False",
    ]
  }

  post-processor "manifest" {
    output     = var.manifest_file
    strip_path = true
  }
}
