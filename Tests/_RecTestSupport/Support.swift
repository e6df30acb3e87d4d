import RecCore
