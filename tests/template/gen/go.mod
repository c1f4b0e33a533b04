module portolan/templategen

go 1.19
