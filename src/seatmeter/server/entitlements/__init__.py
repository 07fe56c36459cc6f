"""What the team owns: product pools, cloud users and their assignments."""
