# Inputs of the shipyard bake (Packer 1.6.6 has no functions in validation: shipyard checks
# the formats; these rules only refuse empty values). shipyard.strategies.ami.packer passes every one of them with -var; the
# endpoints are empty for real AWS and point at the lab's moto server in the lab.

variable "service" {
  type        = string
  description = "Service name (from the spec)."
  validation {
    condition     = var.service != ""
    error_message = "The service must be given (a spec name)."
  }
}

variable "version" {
  type        = string
  description = "Service version (from the spec)."
}

variable "artifact_sha256" {
  type        = string
  description = "sha256 of the release artifact."
  validation {
    condition     = var.artifact_sha256 != ""
    error_message = "The artifact_sha256 must be given (64 hex digits)."
  }
}

variable "bake_hash" {
  type        = string
  description = "Content hash of everything that reaches the image (shipyard.strategies.ami.bake)."
}

variable "bake_id" {
  type        = string
  description = "Id of this bake run; tags the builder so leftovers can be found."
}

variable "timestamp" {
  type        = string
  description = "UTC time of the bake, YYYYMMDDhhmmss (part of the AMI name)."
}

variable "base_ami" {
  type        = string
  description = "The base AMI id (resolved by shipyard from ami.base_ami or ami.base_filter)."
  validation {
    condition     = var.base_ami != ""
    error_message = "The base_ami must be given (an AMI id)."
  }
}

variable "region" {
  type        = string
  default     = "us-east-1"
  description = "Region to bake in."
}

variable "endpoint_ec2" {
  type        = string
  default     = ""
  description = "EC2 endpoint URL; empty for real AWS, the moto server in the lab."
}

variable "instance_type" {
  type        = string
  default     = "t3.micro"
  description = "Builder instance type."
}

variable "ssh_username" {
  type        = string
  default     = "admin"
  description = "User the communicator and Ansible connect as."
}

variable "ssh_host" {
  type        = string
  default     = ""
  description = "Host to provision instead of the builder's address (a lab host: moto runs no machines)."
}

variable "ssh_port" {
  type        = number
  default     = 22
  description = "SSH port of the host to provision."
}

variable "ssh_keypair_name" {
  type        = string
  default     = ""
  description = "An existing (imported) EC2 key pair; empty lets Packer make a temporary one."
}

variable "ssh_private_key_file" {
  type        = string
  default     = ""
  description = "Private key of ssh_keypair_name."
}

variable "known_hosts_file" {
  type        = string
  default     = "~/.ssh/known_hosts"
  description = "known_hosts with the provisioned host's key (the lab's for a lab host); Ansible refuses any other key. No spaces or quotes."
  validation {
    condition     = var.known_hosts_file != ""
    error_message = "The known_hosts_file must be given: host keys are always checked."
  }
}

variable "ansible_playbook" {
  type        = string
  default     = "ansible-playbook"
  description = "The ansible-playbook beside shipyard's Python."
}

variable "playbook_file" {
  type        = string
  description = "Path of playbooks/bake.yml."
}

variable "vars_file" {
  type        = string
  description = "JSON file with shipyard_service and the bake-mode variables."
}

variable "collections_path" {
  type        = string
  description = "ANSIBLE_COLLECTIONS_PATH holding shipyard.deploy."
}

variable "manifest_file" {
  type        = string
  description = "Where the manifest post-processor writes the build's artifacts."
}
